// Pieces several pages share: error boxes, the session, dataset cards.
import { api, plainWords } from './api.js';
import { h, kv, table, badge } from './dom.js';

// errorBox shows an error in plain words, then the node's own message and
// its code for whoever needs the detail.
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' },
    h('p', { class: 'error-title' }, plainWords(err)),
    h('p', { class: 'error-detail' }, err.message),
    err.code ? h('p', { class: 'error-code' }, `code: ${err.code}`) : null);
}

export function okBox(...children) {
  return h('div', { class: 'ok', role: 'status' }, ...children);
}

let sessionPromise = null;
export function session(refresh = false) {
  if (refresh || !sessionPromise) sessionPromise = api.get('/api/session');
  return sessionPromise;
}

let datasetsPromise = null;
export function datasets(refresh = false) {
  if (refresh || !datasetsPromise) {
    datasetsPromise = api.get('/api/datasets');
    datasetsPromise.catch(() => { datasetsPromise = null; });
  }
  return datasetsPromise;
}

export function devWarning(ds) {
  if (!ds.insecure_dev) return null;
  return h('div', { class: 'warning', role: 'note' },
    h('strong', {}, 'Insecure development setup. '),
    `The keys of dataset ${ds.id} came from one machine that knew the secret behind them: whoever holds it can forge proofs. Use it for test data only, never for real records.`);
}

export function fieldRange(f) {
  switch (f.type) {
    case 'int':
    case 'fixed':
      return `${f.min} to ${f.max}` + (f.decimals ? ` (${f.decimals} decimals)` : '');
    case 'bool':
      return 'yes or no';
    case 'category':
      return `one of: ${f.values.join(', ')}`;
    default:
      return '';
  }
}

export function releaseText(ds) {
  if (ds.mechanism === 'exact_insecure_dev') {
    return 'EXACT sums (development policy): no noise, so two jobs can reveal a record';
  }
  if (ds.mechanism === 'discrete_gaussian') {
    return `noisy (discrete Gaussian): ρ ${ds.epoch_rho} per epoch for all buyers, ${ds.buyer_rho} per buyer`;
  }
  return ds.mechanism || 'unknown';
}

// priceText says what a buyer pays for a job on the dataset, in the
// federation's integer unit.
export function priceText(ds) {
  if (!ds.price_per_record && !ds.job_fee) return 'free';
  const fee = ds.job_fee ? ` + ${ds.job_fee} per released job` : '';
  return `${ds.price_per_record} micro-credits per counted record${fee}; a job holds the most it can cost until it ends`;
}

export function datasetCard(ds, headingLevel = 'h3') {
  const stateKind = ds.state === 'ready' ? 'good' : ds.state === 'failed' ? 'bad' : 'neutral';
  return h('article', { class: 'dataset', 'aria-label': `Dataset ${ds.id}` },
    h(headingLevel, {}, ds.id, ' ', badge(ds.state, stateKind), ' ', badge(ds.setup, ds.insecure_dev ? 'bad' : 'good')),
    devWarning(ds),
    kv([
      ['Purposes', ds.purposes.join(', ')],
      ['Epoch', `${ds.epoch_period}; now epoch ${ds.current_epoch} (since ${ds.epoch_start.replace('T', ' ').replace('Z', ' UTC')})`],
      ['Minimum cohort', `${ds.min_cohort} records (at most ${ds.max_cohort})`],
      ['Release', releaseText(ds)],
      ['Price', priceText(ds)],
      ['Backend', `${ds.backend.toUpperCase()} on ${ds.nodes} nodes`],
    ]),
    table('Schema', ['Field', 'Type', 'Values'], ds.fields.map((f) => [f.name, f.type, fieldRange(f)]), { rowHeaders: true }));
}

// datasetPicker is a select of the listed datasets or, without a list
// (no buyer token), a text box for a dataset id.
export async function datasetPicker(label) {
  let list = null;
  try {
    const r = await datasets();
    if (r.listed && r.datasets.length > 0) list = r.datasets;
  } catch (e) {
    list = null;
  }
  let control;
  if (list) {
    control = h('select', { name: 'dataset' }, list.map((d) => h('option', { value: d.id }, d.id)));
  } else {
    control = h('input', { type: 'text', name: 'dataset', autocomplete: 'off', spellcheck: 'false', pattern: '[a-z0-9-]{1,64}', placeholder: 'e.g. fitness-2026' });
  }
  return { control, label, listed: !!list };
}
