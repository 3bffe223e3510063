// Home: the node and federation the app is connected to, and the datasets.
import { api } from '../api.js';
import { h, kv, table, section, field, badge, clear } from '../dom.js';
import { errorBox, session, datasets, datasetCard } from '../ui.js';

export async function homePage(root) {
  root.appendChild(h('h1', {}, 'Your federation'));
  root.appendChild(h('p', { class: 'lead' },
    'Cohort computes statistics over records that no single party sees. Each record is split between the nodes below; only aggregates over at least a minimum cohort are ever released.'));

  const s = await session(true);
  const conn = section('Connection',
    kv([
      ['Node', h('code', {}, s.node)],
      ['Federation', s.pinned
        ? h('span', {}, badge('pinned', 'good'), ` ${s.federation.name}: datasets are checked against its descriptor (federation.yaml)`)
        : h('span', {}, badge('not pinned', 'bad'), ' the app was started without --federation: it takes the node at its word about the datasets, and contributing is off')],
      ['Acting as', [s.identity ? `contributor ${s.identity.commitment.slice(0, 12)}…` : 'no contributor identity open', '; ', s.buyer ? 'a buyer (token loaded)' : 'no buyer token']],
    ]));
  root.appendChild(conn);
  if (s.federation) {
    conn.appendChild(table(`Nodes of ${s.federation.name} (admission by ${s.federation.admission})`, ['#', 'Name', 'API address'],
      s.federation.nodes.map((n) => [String(n.index), n.name, n.address]), { rowHeaders: true }));
  }

  const dsSection = section('Datasets');
  root.appendChild(dsSection);
  const list = h('div', { class: 'datasets' });
  try {
    const r = await datasets(true);
    if (!r.listed) {
      dsSection.appendChild(h('p', {}, 'The node did not list its datasets. Look a dataset up by its id instead:'));
    } else if (r.datasets.length === 0) {
      dsSection.appendChild(h('p', { class: 'empty' }, 'This federation has no dataset yet. An operator creates one with cohort dataset create.'));
    } else {
      r.datasets.forEach((d) => list.appendChild(datasetCard(d)));
    }
    (r.skipped || []).forEach((m) => dsSection.appendChild(h('p', { class: 'warning' }, `Left out: ${m}`)));
  } catch (e) {
    dsSection.appendChild(errorBox(e));
  }
  const input = h('input', { type: 'text', name: 'dataset', autocomplete: 'off', spellcheck: 'false' });
  const out = h('div', {});
  const form = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    try {
      out.appendChild(datasetCard(await api.get('/api/datasets/' + encodeURIComponent(input.value.trim()))));
    } catch (e) {
      out.appendChild(errorBox(e));
    }
  } }, field('Look up a dataset by id', input), h('button', { type: 'submit' }, 'Look up'));
  dsSection.appendChild(list);
  dsSection.appendChild(form);
  dsSection.appendChild(out);
}
