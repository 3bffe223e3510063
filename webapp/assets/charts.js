// Charts as inline SVG, drawn from the results document: bars with
// intervals for histograms, a heat map for correlation and covariance
// matrices, and coefficients with intervals for regressions. Every chart
// has a title and a description for screen readers; the same numbers are
// in a table beside it.
import { fmt } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
let n = 0;

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function svg(width, height, title, desc) {
  n += 1;
  const root = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart', 'aria-labelledby': `ct${n} cd${n}` });
  root.appendChild(s('title', { id: `ct${n}` }, title));
  root.appendChild(s('desc', { id: `cd${n}` }, desc));
  return root;
}

function niceMax(x) {
  if (x <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

// histogram draws one bar per category, with its interval when noisy.
export function histogramChart(field, counts, intervals) {
  const labels = Object.keys(counts);
  const vals = labels.map((k) => counts[k]);
  const highs = labels.map((k, i) => (intervals && intervals[k] ? intervals[k][1] : vals[i]));
  const max = niceMax(Math.max(0, ...vals, ...highs));
  const W = 560, H = 260, L = 48, B = 40, T = 12, R = 12;
  const bw = (W - L - R) / Math.max(1, labels.length);
  const y = (v) => T + (H - T - B) * (1 - Math.max(0, v) / max);
  const root = svg(W, H, `Histogram of ${field}`, labels.map((k, i) => `${k}: ${fmt(vals[i])}`).join('; '));
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    root.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    root.appendChild(s('text', { x: L - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmt(v)));
  }
  labels.forEach((k, i) => {
    const x = L + i * bw + bw * 0.15;
    const w = bw * 0.7;
    root.appendChild(s('rect', { x, y: y(vals[i]), width: w, height: Math.max(0, y(0) - y(vals[i])), class: 'bar' }));
    if (intervals && intervals[k]) {
      const [lo, hi] = intervals[k];
      const cx = x + w / 2;
      root.appendChild(s('line', { x1: cx, x2: cx, y1: y(hi), y2: y(lo), class: 'whisker' }));
      root.appendChild(s('line', { x1: cx - 6, x2: cx + 6, y1: y(hi), y2: y(hi), class: 'whisker' }));
      root.appendChild(s('line', { x1: cx - 6, x2: cx + 6, y1: y(lo), y2: y(lo), class: 'whisker' }));
    }
    root.appendChild(s('text', { x: x + w / 2, y: H - B + 18, class: 'label', 'text-anchor': 'middle' }, k));
    root.appendChild(s('text', { x: x + w / 2, y: y(vals[i]) - 4, class: 'value', 'text-anchor': 'middle' }, fmt(vals[i])));
  });
  root.appendChild(s('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), class: 'axis' }));
  return root;
}

// heatMap colours each cell of a matrix; correlations run from −1 (blue)
// to +1 (red), covariances are scaled by the largest magnitude.
export function heatMap(kind, fields, matrix) {
  const k = fields.length;
  const cell = Math.min(80, Math.floor(420 / Math.max(1, k)));
  const L = 110, T = 28;
  const W = L + k * cell + 12, H = T + k * cell + 12;
  let scale = 1;
  if (kind !== 'correlation') scale = Math.max(1e-12, ...matrix.flat().map(Math.abs));
  const root = svg(W, H, `${kind} of ${fields.join(', ')}`,
    matrix.map((row, i) => `${fields[i]}: ` + row.map((v, j) => `${fields[j]} ${fmt(v)}`).join(', ')).join('; '));
  fields.forEach((f, i) => {
    root.appendChild(s('text', { x: L - 8, y: T + i * cell + cell / 2 + 4, class: 'label', 'text-anchor': 'end' }, f));
    root.appendChild(s('text', { x: L + i * cell + cell / 2, y: T - 8, class: 'label', 'text-anchor': 'middle' }, f));
  });
  matrix.forEach((row, i) => row.forEach((v, j) => {
    const t = Math.max(-1, Math.min(1, v / scale));
    const a = Math.abs(t);
    // From white to red (positive) or blue (negative).
    const c = t >= 0
      ? `rgb(${255},${Math.round(255 - 175 * a)},${Math.round(255 - 190 * a)})`
      : `rgb(${Math.round(255 - 200 * a)},${Math.round(255 - 130 * a)},255)`;
    root.appendChild(s('rect', { x: L + j * cell, y: T + i * cell, width: cell - 2, height: cell - 2, fill: c, class: 'cell' }));
    root.appendChild(s('text', { x: L + j * cell + cell / 2 - 1, y: T + i * cell + cell / 2 + 4, class: 'cell-value', 'text-anchor': 'middle' }, fmt(Number(v.toFixed(3)))));
  }));
  return root;
}

// coefficientChart draws each coefficient as a dot on a zero line, with
// its interval when the release is noisy.
export function coefficientChart(target, features, coefficients, intervals) {
  const rows = features.length;
  const W = 560, L = 130, R = 20, T = 16, row = 34;
  const H = T + rows * row + 28;
  const all = coefficients.slice();
  (intervals || []).forEach(([lo, hi]) => all.push(lo, hi));
  const m = niceMax(Math.max(1e-12, ...all.map(Math.abs)));
  const x = (v) => L + ((v + m) / (2 * m)) * (W - L - R);
  const root = svg(W, H, `Regression coefficients for ${target}`,
    features.map((f, i) => `${f}: ${fmt(coefficients[i])}` + (intervals ? ` (${fmt(intervals[i][0])} to ${fmt(intervals[i][1])})` : '')).join('; '));
  root.appendChild(s('line', { x1: x(0), x2: x(0), y1: T - 6, y2: T + rows * row, class: 'axis' }));
  [-m, -m / 2, 0, m / 2, m].forEach((v) => {
    root.appendChild(s('text', { x: x(v), y: H - 8, class: 'tick', 'text-anchor': 'middle' }, fmt(v)));
  });
  features.forEach((f, i) => {
    const cy = T + i * row + row / 2;
    root.appendChild(s('text', { x: L - 10, y: cy + 4, class: 'label', 'text-anchor': 'end' }, f));
    if (intervals && intervals[i]) {
      root.appendChild(s('line', { x1: x(intervals[i][0]), x2: x(intervals[i][1]), y1: cy, y2: cy, class: 'whisker' }));
    }
    root.appendChild(s('circle', { cx: x(coefficients[i]), cy, r: 5, class: 'dot' }));
  });
  return root;
}
