// Buyer: datasets, a job builder, live job progress, results as tables
// and charts, and the budget left. The buyer token stays in the cohort app
// process.
import { api } from '../api.js';
import { h, kv, table, section, field, clear, status, fmt, uid, badge } from '../dom.js';
import { errorBox, okBox, session, datasets, devWarning, releaseText, priceText } from '../ui.js';
import { histogramChart, heatMap, coefficientChart } from '../charts.js';
import { follow } from './contributor.js';

const stateWords = {
  submitted: 'Submitted: waiting for the nodes to admit it',
  admitted: 'Admitted: the nodes agreed on the eligible records',
  aggregating: 'Aggregating: the nodes are combining their shares',
  done: 'Done: the result is released',
  rejected: 'Rejected',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export async function buyerPage(root) {
  root.appendChild(h('h1', {}, 'Ask a question of the data'));
  root.appendChild(h('p', { class: 'lead' },
    'Choose statistics over a dataset. The nodes compute them over sealed shares and release only the aggregate, and only over at least the minimum cohort of consenting records.'));
  const s = await session();
  if (!s.buyer) {
    root.appendChild(section('No buyer token',
      h('p', {}, 'The buyer pages need a buyer token from the federation\'s operators. Restart the app with --token-file FILE (or set COHORT_BUYER_TOKEN).')));
    return;
  }
  const r = await datasets(true);
  if (r.datasets.length === 0) {
    root.appendChild(section('Datasets', h('p', { class: 'empty' }, 'No dataset is ready for jobs yet.')));
    return;
  }
  const select = h('select', { name: 'dataset' }, r.datasets.map((d) => h('option', { value: d.id }, d.id)));
  const pick = section('Dataset', h('form', { class: 'inline', onsubmit: (ev) => ev.preventDefault() }, field('Dataset', select)));
  const budgetSec = section('Your budget');
  const builderSec = section('New job');
  const progressSec = section('Progress');
  const resultSec = section('Result');
  const jobsSec = section('Your jobs');
  root.append(pick, budgetSec, builderSec, progressSec, resultSec, jobsSec);
  clear(progressSec, progressSec.firstChild, h('p', { class: 'empty' }, 'Submit a job to follow it here.'));
  clear(resultSec, resultSec.firstChild, h('p', { class: 'empty' }, 'Results appear here once a job is done.'));

  const ctx = { budgetSec, progressSec, resultSec, jobsSec };
  const draw = () => {
    const ds = r.datasets.find((d) => d.id === select.value);
    drawBudget(budgetSec, ds);
    drawBuilder(builderSec, ds, ctx);
    drawJobs(jobsSec, ds, ctx);
  };
  select.addEventListener('change', draw);
  draw();
}

async function drawBudget(sec, ds) {
  clear(sec, sec.firstChild, h('p', { class: 'muted' }, 'Asking the node…'));
  try {
    const b = await api.get('/api/buyer/budget?dataset=' + encodeURIComponent(ds.id));
    const money = b.balance
      ? [['Balance', `${b.balance.available} micro-credits available (${b.balance.held} held for jobs not ended, ${b.balance.charged} charged)`], ['Price', priceText(ds)]]
      : [['Price', priceText(ds)]];
    if (b.exact) {
      clear(sec, sec.firstChild, h('p', { class: 'warning' }, `${ds.id} releases exact sums (a development policy): no privacy budget applies, and two jobs can reveal a record.`), kv(money));
      return;
    }
    clear(sec, sec.firstChild,
      kv([['Release', releaseText(ds)], ['Available now', `ρ = ${b.available_rho} for one job over the current epoch`], ...money]),
      table('Privacy spent per epoch (zero-concentrated DP, ρ)', ['Epoch', 'Spent by all', 'of', 'Spent by you', 'of'],
        b.epochs.map((e) => [String(e.epoch), e.spent_all, e.total_all, e.spent_buyer, e.total_buyer]), { rowHeaders: true }));
  } catch (e) {
    clear(sec, sec.firstChild, errorBox(e));
  }
}

function checkbox(label, value, group) {
  const id = uid('o');
  const c = h('input', { type: 'checkbox', id, value, 'data-group': group });
  return { c, el: h('label', { for: id, class: 'choice' }, c, ' ', label) };
}

function drawBuilder(sec, ds, ctx) {
  const numeric = ds.fields.filter((f) => f.type !== 'category');
  const moments = new Set(ds.moments);
  const categories = ds.fields.filter((f) => f.type === 'category');
  const purpose = h('select', { name: 'purpose' }, ds.purposes.map((p) => h('option', { value: p }, p)));
  const noisy = ds.mechanism === 'discrete_gaussian';
  const rho = h('input', { type: 'text', name: 'rho', value: '1/16', autocomplete: 'off' });
  const minCohort = h('input', { type: 'number', name: 'min-cohort', min: ds.min_cohort, value: ds.min_cohort });

  const count = checkbox('Number of records', 'count');
  count.c.checked = true;
  const scalars = [];
  const perField = numeric.map((f) => {
    const boxes = ['sum', 'mean', 'variance'].map((k) => {
      const b = checkbox(k, k);
      scalars.push({ box: b.c, kind: k, field: f.name });
      return b.el;
    });
    return h('fieldset', { class: 'row' }, h('legend', {}, f.name), boxes);
  });
  const hists = categories.map((f) => {
    const b = checkbox(`Histogram of ${f.name}`, f.name);
    return { box: b.c, field: f.name, el: b.el };
  });
  const corr = numeric.filter((f) => moments.has(f.name)).map((f) => ({ ...checkbox(f.name, f.name), field: f.name }));
  const target = h('select', { name: 'target' }, h('option', { value: '' }, 'No regression'), numeric.filter((f) => moments.has(f.name)).map((f) => h('option', { value: f.name }, f.name)));
  const feats = numeric.filter((f) => moments.has(f.name)).map((f) => ({ ...checkbox(f.name, f.name), field: f.name }));

  const out = h('div', {});
  const submit = h('button', { type: 'submit' }, 'Submit the job');
  const form = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    const outputs = [];
    if (count.c.checked) outputs.push({ kind: 'count' });
    scalars.filter((x) => x.box.checked).forEach((x) => outputs.push({ kind: x.kind, field: x.field }));
    hists.filter((x) => x.box.checked).forEach((x) => outputs.push({ kind: 'histogram', field: x.field }));
    const cf = corr.filter((x) => x.c.checked).map((x) => x.field);
    if (cf.length === 1) {
      out.appendChild(errorBox({ message: 'A correlation needs at least two fields.', code: 'InvalidArgument' }));
      return;
    }
    if (cf.length >= 2) outputs.push({ kind: 'correlation', fields: cf });
    if (target.value) {
      const fs = feats.filter((x) => x.c.checked && x.field !== target.value).map((x) => x.field);
      if (fs.length === 0) {
        out.appendChild(errorBox({ message: 'A regression needs at least one feature other than its target.', code: 'InvalidArgument' }));
        return;
      }
      outputs.push({ kind: 'linear_regression', target: target.value, features: fs });
    }
    const req = { dataset: ds.id, purpose: purpose.value, epoch: 'current', min_cohort: Number(minCohort.value), outputs };
    if (noisy) req.rho = rho.value.trim();
    submit.disabled = true;
    try {
      const { task, job } = await api.post('/api/buyer/jobs', req);
      out.appendChild(okBox(h('p', {}, 'Submitted job ', h('code', {}, job.id), '.')));
      await watch(task, job, ctx, ds);
    } catch (e) {
      out.appendChild(errorBox(e));
    } finally {
      submit.disabled = false;
    }
  } },
  devWarning(ds),
  h('div', { class: 'inline' },
    field('Purpose', purpose, 'Only records whose owners consented to it are counted.'),
    field('Minimum cohort', minCohort, `At least the dataset's ${ds.min_cohort}.`),
    noisy ? field('Privacy to spend (ρ)', rho, 'An exact fraction or decimal, such as 1/16.') : null),
  h('fieldset', {}, h('legend', {}, 'Outputs'), count.el, perField, hists.map((x) => x.el)),
  corr.length >= 2 ? h('fieldset', {}, h('legend', {}, 'Correlation between'), corr.map((x) => x.el)) : null,
  corr.length >= 2 ? h('fieldset', {}, h('legend', {}, 'Linear regression'), field('Predict', target), h('div', { role: 'group', 'aria-label': 'Features' }, 'from: ', feats.map((x) => x.el))) : null,
  submit, out);
  clear(sec, sec.firstChild, form);
}

async function watch(task, job, ctx, ds) {
  const steps = ['submitted', 'admitted', 'aggregating', 'done'];
  const list = h('ol', { class: 'steps' });
  const st = status();
  const draw = (j) => {
    clear(list, steps.map((k) => {
      const i = steps.indexOf(j.state);
      const cls = j.state === k ? 'current' : i > steps.indexOf(k) || j.state === 'done' ? 'past' : '';
      return h('li', { class: cls, 'aria-current': j.state === k ? 'step' : null }, stateWords[k]);
    }));
    clear(st, `${stateWords[j.state] || j.state}${j.progress ? ` (${j.progress})` : ''}${j.reason ? `: ${j.reason}` : ''}${j.eligible_records ? `; ${j.eligible_records} eligible records` : ''}`);
  };
  clear(ctx.progressSec, ctx.progressSec.firstChild, h('p', {}, 'Job ', h('code', {}, job.id)), list, st);
  draw(job);
  const t = await follow(task, (t) => { if (t.result) draw(t.result); });
  if (t.state === 'failed') {
    ctx.progressSec.appendChild(errorBox(t.error));
    return;
  }
  const final = t.result;
  if (final.state === 'done') {
    await showResult(ctx.resultSec, final.id);
    drawBudget(ctx.budgetSec, ds);
  } else {
    ctx.progressSec.appendChild(errorBox({ message: final.reason || final.state, code: final.state === 'rejected' ? 'FailedPrecondition' : 'Aborted' }));
  }
  drawJobs(ctx.jobsSec, ds, ctx);
}

async function showResult(sec, jobID) {
  clear(sec, sec.firstChild, h('p', { class: 'muted' }, 'Fetching the result…'));
  try {
    const r = await api.get(`/api/buyer/jobs/${encodeURIComponent(jobID)}/result`);
    clear(sec, sec.firstChild, resultView(r));
    sec.scrollIntoView({ block: 'start' });
  } catch (e) {
    clear(sec, sec.firstChild, errorBox(e));
  }
}

// chargeText says what a job holds or was charged, in micro-credits.
export function chargeText(c) {
  if (!c) return 'free';
  switch (c.state) {
    case 'held':
      return `${c.held} micro-credits held until the job ends`;
    case 'settled':
      return `${c.charged} micro-credits charged (${c.price_per_record} per counted record + ${c.job_fee} fee); ${c.refunded} of the ${c.held} held refunded`;
    case 'refunded':
      return `nothing charged: the ${c.held} micro-credits held were refunded`;
    default:
      return c.state;
  }
}

function ci(iv) {
  return iv ? `${fmt(iv[0])} to ${fmt(iv[1])}` : '';
}

function resultView(r) {
  const doc = r.results.jobs && r.results.jobs[0];
  if (!doc) return h('p', { class: 'empty' }, 'This job released no result.');
  const rel = doc.release;
  const noisy = rel && rel.mechanism === 'discrete_gaussian';
  const ciTitle = noisy ? `${Math.round(rel.confidence * 100)}% interval` : null;
  const parts = [
    kv([
      ['Job', h('code', {}, doc.job_id)],
      ['Cohort', `${doc.cohort} records`],
      ['Release', rel ? (noisy ? `noisy, ρ ${rel.rho} charged, noise from ${rel.noising_nodes} nodes` : 'exact (development policy)') : 'exact'],
      doc.budget ? ['Budget left', `ρ ${doc.budget.rho_left}`] : null,
      ['Charge', chargeText(r.job.charge)],
      r.job.transcript_id ? ['Transcript', h('span', {}, h('code', {}, r.job.transcript_id), ' (check it on the Auditor page)')] : null,
    ]),
  ];
  const scalars = doc.outputs.filter((o) => 'value' in o);
  if (scalars.length) {
    const head = ['Output', 'Value'];
    if (noisy) head.push('Standard error', ciTitle);
    parts.push(table('Numbers', head, scalars.map((o) => {
      const row = [o.field ? `${o.kind} of ${o.field}` : o.kind, fmt(o.value)];
      if (noisy) row.push(o.standard_error !== undefined ? fmt(o.standard_error) : '', ci(o.interval));
      return row;
    }), { rowHeaders: true }));
  }
  for (const o of doc.outputs) {
    if (o.kind === 'histogram') {
      const keys = Object.keys(o.counts);
      const head = ['Value', 'Count'];
      if (o.intervals) head.push(ciTitle);
      parts.push(h('figure', { class: 'figure' }, h('figcaption', {}, `Histogram of ${o.field}`),
        histogramChart(o.field, o.counts, o.intervals),
        table(null, head, keys.map((k) => [k, fmt(o.counts[k])].concat(o.intervals ? [ci(o.intervals[k])] : [])), { rowHeaders: true })));
    } else if (o.kind === 'correlation' || o.kind === 'covariance') {
      parts.push(h('figure', { class: 'figure' }, h('figcaption', {}, `${o.kind === 'correlation' ? 'Correlation' : 'Covariance'} of ${o.fields.join(', ')}`),
        heatMap(o.kind, o.fields, o.matrix),
        table(null, [''].concat(o.fields), o.matrix.map((row, i) => [o.fields[i]].concat(row.map((v, j) => fmt(v) + (o.intervals ? ` (${ci(o.intervals[i][j])})` : '')))), { rowHeaders: true })));
    } else if (o.kind.endsWith('regression')) {
      const head = ['Term', 'Coefficient'];
      if (o.coefficient_intervals) head.push(ciTitle);
      const rows = [['intercept', fmt(o.intercept)].concat(o.coefficient_intervals ? [ci(o.intercept_interval)] : [])]
        .concat(o.features.map((f, i) => [f, fmt(o.coefficients[i])].concat(o.coefficient_intervals ? [ci(o.coefficient_intervals[i])] : [])));
      parts.push(h('figure', { class: 'figure' }, h('figcaption', {}, `${o.kind === 'linear_regression' ? 'Linear' : 'Logistic'} regression of ${o.target} (R² ${fmt(o.r2)})`),
        coefficientChart(o.target, o.features, o.coefficients, o.coefficient_intervals),
        table(null, head, rows, { rowHeaders: true })));
    }
  }
  return h('div', { class: 'result' }, parts);
}

async function drawJobs(sec, ds, ctx) {
  try {
    const r = await api.get('/api/buyer/jobs?dataset=' + encodeURIComponent(ds.id));
    if (r.jobs.length === 0) {
      clear(sec, sec.firstChild, h('p', { class: 'empty' }, `You have no job on ${ds.id} yet.`));
      return;
    }
    clear(sec, sec.firstChild, table(null, ['Job', 'State', 'Submitted', 'Cohort', 'Charge', ''], r.jobs.map((j) => [
      j.id,
      badge(j.state, j.state === 'done' ? 'good' : j.final ? 'bad' : 'neutral'),
      j.submitted_at,
      j.cohort ? String(j.cohort) : '',
      chargeText(j.charge),
      j.state === 'done' ? h('button', { type: 'button', class: 'secondary small', onclick: () => showResult(ctx.resultSec, j.id) }, 'Show result') : (j.reason || ''),
    ]), { rowHeaders: true }));
  } catch (e) {
    clear(sec, sec.firstChild, errorBox(e));
  }
}
