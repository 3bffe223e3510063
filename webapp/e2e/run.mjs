// End-to-end run of cohort app in headless Chromium, against a live
// federation that the Go test TestAppBrowser (cmd/cohort) starts. It uses
// Debian's chromium through playwright-core: no browser is downloaded.
//
// Environment (all required):
//   COHORT_APP_URL          the app, e.g. http://127.0.0.1:PORT/
//   COHORT_CHROMIUM         the chromium executable
//   COHORT_ARTIFACTS        directory for screenshots
//   COHORT_IDENTITY         absolute path of the identity file to create
//   COHORT_INVITE           an unused invite token
//   COHORT_DATASET          the dataset id
//   COHORT_RECORD           the record to contribute, JSON {field: value}
//   COHORT_PURPOSE          the purpose to consent to and to ask for
//   COHORT_PRICE            the dataset's price per counted record
//   COHORT_GOOD_BUNDLE      a transcript bundle that verifies
//   COHORT_TAMPERED_BUNDLE  the same bundle with one byte changed
//
// It exits 0 when every step passed, 1 otherwise, printing each step.

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`run.mjs: ${k} is not set`);
    process.exit(2);
  }
  return v;
};
const url = env('COHORT_APP_URL');
const artifacts = env('COHORT_ARTIFACTS');
const record = JSON.parse(env('COHORT_RECORD'));
const purpose = env('COHORT_PURPOSE');
const dataset = env('COHORT_DATASET');
const price = Number(env('COHORT_PRICE'));
mkdirSync(artifacts, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), 'cohort-e2e-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env('COHORT_CHROMIUM'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1200, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
// Nothing may be loaded from anywhere but the app.
const origin = new URL(url).origin;
page.on('request', (r) => { if (!r.url().startsWith(origin)) problems.push(`request to another origin: ${r.url()}`); });

let step = 0;
async function run(name, f) {
  step += 1;
  const t0 = Date.now();
  process.stdout.write(`step ${step}: ${name} … `);
  try {
    await f();
    console.log(`ok (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    console.log('FAILED');
    await page.screenshot({ path: join(artifacts, `failed-step-${step}.png`), fullPage: true }).catch(() => {});
    throw new Error(`step ${step} (${name}): ${e.message}`);
  }
}

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const main = page.locator('main');
let exitCode = 0;
try {
  await run('home page shows the pinned federation and the dataset', async () => {
    await page.goto(url);
    await main.getByRole('heading', { name: 'Your federation' }).waitFor();
    await main.getByText('pinned', { exact: true }).waitFor();
    await main.getByRole('article', { name: `Dataset ${dataset}` }).waitFor();
    await main.getByText('Insecure development setup.').first().waitFor();
    check(await main.getByRole('table', { name: /Nodes of/ }).locator('tbody tr').count() === 3, 'want 3 nodes listed');
    // The first page lists the federation's datasets, buyer or not.
    await main.getByRole('article', { name: /^Dataset / }).first().waitFor();
    await shot('home');
  });

  await run('keyboard: the navigation is reachable and marks the current page', async () => {
    await page.keyboard.press('Tab'); // skip link
    await page.keyboard.press('Tab'); // first nav link
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    check(focused === 'Federation', `focus on ${focused}`);
    check(await page.getByRole('link', { name: 'Federation' }).getAttribute('aria-current') === 'page', 'current page not marked');
  });

  await run('contributor: create an identity', async () => {
    await page.getByRole('link', { name: 'Contributor' }).click();
    await main.getByRole('heading', { name: 'Contribute your data' }).waitFor();
    await main.getByLabel('Identity file (absolute path)').fill(env('COHORT_IDENTITY'));
    await main.getByRole('button', { name: 'Create new identity' }).click();
    await main.getByText('Identity open:').waitFor();
    await main.getByText('not registered yet').waitFor();
  });

  await run('contributor: register with an invite', async () => {
    await main.getByLabel('Invite token').fill(env('COHORT_INVITE'));
    await main.getByRole('button', { name: 'Register' }).click();
    await main.getByText(/You are member \d+ of the federation's registry/).waitFor();
  });

  await run('contributor: a wrong value is refused in plain words', async () => {
    const contrib = main.getByRole('region', { name: '3. Contribute a record' });
    await contrib.getByLabel('Dataset').fill(dataset).catch(async () => contrib.getByLabel('Dataset').selectOption(dataset));
    await contrib.getByRole('button', { name: 'Show the form' }).click();
    await contrib.getByRole('button', { name: 'Prove and send my record' }).waitFor();
    // No purpose ticked: refused before anything is sent.
    for (const [k, v] of Object.entries(record)) {
      const control = contrib.getByLabel(k, { exact: true });
      if (await control.evaluate((el) => el.tagName) === 'SELECT') await control.selectOption(v);
      else await control.fill(v);
    }
    await contrib.getByRole('button', { name: 'Prove and send my record' }).click();
    await contrib.getByText('Tick at least one purpose you consent to.').waitFor();
  });

  await run('contributor: contribute with explicit consent, see progress and the receipt', async () => {
    const contrib = main.getByRole('region', { name: '3. Contribute a record' });
    await contrib.getByLabel(purpose, { exact: true }).check();
    await shot('contributor-form');
    await contrib.getByRole('button', { name: 'Prove and send my record' }).click();
    await contrib.getByText(/Your record was accepted by all 3 nodes/).waitFor({ timeout: 600_000 });
    await contrib.getByRole('definition').filter({ hasText: 'accepted' }).first().waitFor();
    await shot('contributor');
  });

  await run('contributor: the receipt is shown again from the node', async () => {
    const rec = main.getByRole('region', { name: '4. Receipts, jobs and revocation' });
    const ds = rec.getByLabel('Dataset');
    if (await ds.evaluate((el) => el.tagName) === 'SELECT') await ds.selectOption(dataset);
    else await ds.fill(dataset);
    await rec.getByRole('button', { name: 'Show my receipt' }).click();
    await rec.getByLabel('Receipt').getByText('accepted', { exact: true }).waitFor();
  });

  let jobID = '';
  await run('buyer: build a job, follow it, see tables and charts', async () => {
    await page.getByRole('link', { name: 'Buyer' }).click();
    await main.getByRole('heading', { name: 'Ask a question of the data' }).waitFor();
    const builder = main.getByRole('region', { name: 'New job' });
    await builder.getByRole('button', { name: 'Submit the job' }).waitFor();
    // The budget section shows the buyer's balance and the dataset's price.
    const budget = main.getByRole('region', { name: 'Your budget' });
    await budget.getByText(/micro-credits available/).waitFor();
    await budget.getByText(`${price} micro-credits per counted record; a job holds the most it can cost until it ends`).waitFor();
    await builder.getByLabel('Purpose').selectOption(purpose);
    await builder.getByRole('group', { name: 'age' }).getByLabel('mean').check();
    await builder.getByLabel(/Histogram of /).first().check();
    const corr = builder.getByRole('group', { name: 'Correlation between' });
    const boxes = corr.getByRole('checkbox');
    for (let i = 0; i < await boxes.count(); i++) await boxes.nth(i).check();
    await builder.getByLabel('Predict').selectOption('height');
    await builder.getByRole('group', { name: 'Features' }).getByLabel('age', { exact: true }).check();
    await shot('buyer-builder');
    await builder.getByRole('button', { name: 'Submit the job' }).click();
    await builder.getByText(/Submitted job/).waitFor();
    jobID = (await builder.locator('.ok code').first().textContent()).trim();
    const result = main.getByRole('region', { name: 'Result' });
    await result.getByRole('img', { name: /Histogram of/ }).waitFor({ timeout: 600_000 });
    await result.getByRole('img', { name: /correlation of/ }).waitFor();
    await result.getByRole('table', { name: 'Numbers' }).waitFor();
    await result.getByRole('img', { name: /Regression coefficients for height/ }).waitFor();
    check(await result.locator('svg .bar').count() > 0, 'no bars drawn');
    await main.getByRole('region', { name: 'Progress' }).getByText(/Done: the result is released/).first().waitFor();
    // The job was charged the price of its four records; the rest of
    // the quote went back.
    await result.getByText(new RegExp(`^${4 * price} micro-credits charged \\(${price} per counted record \\+ 0 fee\\); \\d+ of the \\d+ held refunded$`)).waitFor();
    const jobs = main.getByRole('region', { name: 'Your jobs' });
    await jobs.getByRole('row', { name: new RegExp(jobID) }).getByText(`${4 * price} micro-credits charged`, { exact: false }).waitFor();
    await shot('buyer');
  });

  await run('contributor: the buyer\'s released job counted my record', async () => {
    await page.getByRole('link', { name: 'Contributor' }).click();
    const rec = main.getByRole('region', { name: '4. Receipts, jobs and revocation' });
    await rec.getByRole('button', { name: 'Which jobs counted my records?' }).click();
    const counted = rec.getByRole('table', { name: /Released jobs that counted your records/ });
    await counted.waitFor({ timeout: 120_000 });
    await counted.getByText(jobID, { exact: true }).waitFor();
    await shot('contributor-jobs');
  });

  await run('contributor: claim the reward of the buyer\'s job with the keyboard, see the balance', async () => {
    const rewards = main.getByRole('region', { name: '5. Rewards' });
    const ds = rewards.getByLabel('Dataset');
    if (await ds.evaluate((el) => el.tagName) === 'SELECT') await ds.selectOption(dataset);
    else await ds.fill(dataset);
    await rewards.getByRole('button', { name: 'Find my rewards' }).click();
    const list = rewards.getByRole('table', { name: /Rewards of the released jobs/ });
    await list.waitFor({ timeout: 120_000 });
    const row = list.getByRole('row', { name: new RegExp(jobID) });
    await row.getByText('not claimed yet').waitFor();
    await rewards.getByText('Payout balance').waitFor();
    await rewards.getByText('0 micro-credits in 0 payout keys').waitFor();
    const claim = row.getByRole('button', { name: `Claim ${price} micro-credits for job ${jobID}` });
    await claim.focus();
    await page.keyboard.press('Enter');
    await rewards.getByText(`Claimed: ${price} micro-credits for job ${jobID}`, { exact: false }).waitFor({ timeout: 600_000 });
    await row.getByText('claimed', { exact: true }).waitFor();
    await rewards.getByText(`${price} micro-credits in 1 payout key`, { exact: true }).waitFor();
    await rewards.getByText('Every reward is claimed.').waitFor();
    await shot('contributor-rewards');
  });

  await run('auditor: a good bundle passes every check', async () => {
    await page.getByRole('link', { name: 'Auditor' }).click();
    await main.getByRole('heading', { name: 'Check a released result' }).waitFor();
    await main.getByLabel(/Accept a dataset made with an insecure development setup/).check();
    await main.getByLabel('Transcript bundle').setInputFiles(env('COHORT_GOOD_BUNDLE'));
    await main.getByRole('button', { name: 'Verify the file' }).click();
    await main.getByText(/every check passed/).waitFor({ timeout: 300_000 });
    const rows = main.getByRole('table', { name: 'Checks, in the order they ran' }).locator('tbody tr');
    check(await rows.count() >= 15, 'too few checks listed');
    check(await main.locator('tr.check-fail').count() === 0, 'a check failed');
    await shot('auditor-good');
  });

  await run('auditor: a tampered bundle shows a failure', async () => {
    await main.getByLabel('Transcript bundle').setInputFiles(env('COHORT_TAMPERED_BUNDLE'));
    await main.getByRole('button', { name: 'Verify the file' }).click();
    await main.getByRole('alert').getByText(/FAILED\. Do not trust this result\./).waitFor({ timeout: 300_000 });
    check(await main.locator('tr.check-fail').count() > 0, 'no failing check shown');
    await shot('auditor-tampered');
  });

  await run('auditor: fetch the buyer\'s job from the node and verify it', async () => {
    check(jobID !== '', 'no job id from the buyer step');
    await main.getByLabel('Job id').fill(jobID);
    await main.getByRole('button', { name: 'Fetch and verify' }).click();
    await main.getByText(new RegExp(`job ${jobID}: every check passed`)).waitFor({ timeout: 300_000 });
  });

  await run('narrow window: the pages still lay out', async () => {
    await page.setViewportSize({ width: 380, height: 800 });
    await page.getByRole('link', { name: 'Federation' }).click();
    await main.getByRole('heading', { name: 'Your federation' }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `page is ${overflow}px wider than the window`);
    await shot('home-narrow');
  });

  await run('no page error, no console error, nothing from another origin', async () => {
    check(problems.length === 0, problems.join('; '));
  });
} catch (e) {
  console.error(e.message);
  if (problems.length) console.error(problems.join('\n'));
  exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`screenshots in ${artifacts}`);
process.exit(exitCode);
