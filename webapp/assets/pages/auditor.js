// Auditor: verify a transcript bundle offline, with the same checks as
// "cohort audit verify", and see each check's verdict and meaning.
import { api } from '../api.js';
import { h, kv, section, field, clear, badge, short } from '../dom.js';
import { errorBox, session } from '../ui.js';

const verdictWords = {
  pass: 'passed',
  warn: 'passed with a warning',
  fail: 'FAILED',
  skip: 'not run',
};

export async function auditorPage(root) {
  root.appendChild(h('h1', {}, 'Check a released result'));
  root.appendChild(h('p', { class: 'lead' },
    'A transcript bundle holds everything a job did: the records\' proofs, the nodes\' partial results and signatures, and the release. Verifying it here re-checks all of it on this computer, trusting none of the nodes.'));
  const s = await session();
  if (!s.pinned) {
    root.appendChild(h('p', { class: 'warning' }, 'Not pinned: the app was started without --federation, so the node keys that check every signature come from the bundle itself. Restart it with --federation federation.yaml to check them against the federation.'));
  }
  const out = h('div', { class: 'report-host' });
  const allowDev = h('input', { type: 'checkbox', id: 'allow-dev', name: 'allow-dev' });
  const devLabel = h('div', { class: 'field' }, h('label', { for: 'allow-dev', class: 'choice' }, allowDev,
    ' Accept a dataset made with an insecure development setup (its check then warns instead of failing)'));

  const file = h('input', { type: 'file', name: 'bundle', accept: '.bundle,.bin,application/octet-stream', required: true });
  const fileForm = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = file.files && file.files[0];
    if (!f) {
      clear(out, errorBox({ message: 'Choose a transcript bundle file first.', code: 'InvalidArgument' }));
      return;
    }
    clear(out, h('p', { class: 'muted', role: 'status' }, `Verifying ${f.name}…`));
    try {
      const rep = await api.upload('/api/audit/verify' + (allowDev.checked ? '?allow_insecure_dev_setup=1' : ''), await f.arrayBuffer());
      clear(out, reportView(rep, f.name));
    } catch (e) {
      clear(out, errorBox(e));
    }
  } }, field('Transcript bundle', file, 'A file from cohort audit fetch, or from the demo.'), h('button', { type: 'submit' }, 'Verify the file'));

  const job = h('input', { type: 'text', name: 'job', autocomplete: 'off', spellcheck: 'false', required: true });
  const fetchForm = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out, h('p', { class: 'muted', role: 'status' }, 'Fetching the bundle from the node and verifying it…'));
    try {
      const rep = await api.post('/api/audit/fetch', { job: job.value.trim(), allow_insecure_dev_setup: allowDev.checked });
      clear(out, reportView(rep, `job ${job.value.trim()}`));
    } catch (e) {
      clear(out, errorBox(e));
    }
  } }, field('Job id', job, 'The node sends the job\'s bundle; it is verified here, not by the node.'), h('button', { type: 'submit' }, 'Fetch and verify'));

  root.append(
    section('Options', devLabel),
    section('Open a bundle file', fileForm),
    section('Or fetch one from the node', fetchForm),
    section('Report', out));
  clear(out, h('p', { class: 'empty' }, 'Verify a bundle to see its report.'));
}

function reportView(rep, what) {
  const failed = rep.checks.filter((c) => c.status === 'fail').length;
  const head = rep.ok
    ? h('div', { class: 'ok verdict', role: 'status' }, h('p', {}, `${what}: every check passed${rep.checks.some((c) => c.status === 'warn') ? ' (with warnings)' : ''}.`))
    : h('div', { class: 'error verdict', role: 'alert' }, h('p', { class: 'error-title' }, `${what}: ${failed} check${failed === 1 ? '' : 's'} FAILED. Do not trust this result.`));
  const rows = rep.checks.map((c) => h('tr', { class: `check-${c.status}` },
    h('th', { scope: 'row' }, c.name),
    h('td', {}, badge(verdictWords[c.status] || c.status, { pass: 'good', warn: 'warn', fail: 'bad' }[c.status] || 'neutral')),
    h('td', {}, c.meaning || ''),
    h('td', {}, c.detail, c.failures && c.failures.length ? h('ul', {}, c.failures.map((f) => h('li', {}, f))) : null)));
  return h('div', { class: 'report' }, head,
    kv([
      ['Job', rep.job_id || '(unknown)'],
      ['Dataset', rep.dataset_id || '(unknown)'],
      ['Records', String(rep.cohort)],
      ['Pinned to', rep.pinned || 'NOT PINNED: the bundle vouches for its own node keys'],
      ['Setup', rep.setup || '(unknown)'],
      ['Transcript digest', h('code', { class: 'hash', title: rep.transcript_digest }, short(rep.transcript_digest))],
    ]),
    h('div', { class: 'table-wrap' }, h('table', { class: 'checks' },
      h('caption', {}, 'Checks, in the order they ran'),
      h('thead', {}, h('tr', {}, ['Check', 'Verdict', 'What it means', 'What was found'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows))));
}
