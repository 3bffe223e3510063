// Contributor: an identity, joining the federation, contributing a record
// with explicit consent, receipts, the jobs that counted my records,
// revocation, and rewards. The identity secret and the payout keys stay in
// the cohort app process and its files.
import { api } from '../api.js';
import { h, kv, table, section, field, clear, status, short, sleep, uid, badge } from '../dom.js';
import { errorBox, okBox, session, datasetPicker, devWarning, fieldRange } from '../ui.js';

const stageNames = {
  dataset: 'Fetching the dataset',
  circuit: 'Preparing the circuit',
  'proving key': 'Getting the proving key',
  'membership path': 'Checking your membership',
  proving: 'Proving your record is valid and consented (this can take a while)',
  uploading: 'Sending the sealed shares to the nodes',
};

export async function contributorPage(root, live) {
  root.appendChild(h('h1', {}, 'Contribute your data'));
  root.appendChild(h('p', { class: 'lead' },
    'Your record is split into shares sealed to the nodes; none of them sees it. A proof shows it is in range and that you consented, without saying who you are. You can revoke it at any time.'));
  const s = await session(true);
  const idSection = section('1. Your identity');
  const regSection = section('2. Join the federation');
  const contribSection = section('3. Contribute a record');
  const recSection = section('4. Receipts, jobs and revocation');
  const rewardSection = section('5. Rewards');
  root.append(idSection, regSection, contribSection, recSection, rewardSection);

  let identity = s.identity;
  const refresh = () => {
    drawIdentity(idSection, identity, s, (id) => { identity = id; refresh(); });
    drawRegister(regSection, identity, (id) => { identity = id; refresh(); });
  };
  refresh();
  await drawContribute(contribSection, s);
  await drawReceipts(recSection);
  await drawRewards(rewardSection);
}

function drawIdentity(sec, identity, s, set) {
  const body = h('div', {});
  const path = h('input', { type: 'text', name: 'identity-path', value: identity ? identity.path : s.identity_path, autocomplete: 'off', spellcheck: 'false', required: true });
  const out = h('div', {});
  const act = (endpoint) => async (ev) => {
    ev.preventDefault();
    clear(out);
    try {
      set(await api.post(endpoint, { path: path.value.trim() }));
    } catch (e) {
      out.appendChild(errorBox(e));
    }
  };
  if (identity) {
    body.appendChild(okBox(h('p', {}, 'Identity open: ', h('code', {}, identity.path))));
    body.appendChild(kv([
      ['Identity commitment (public)', h('code', { class: 'hash' }, identity.commitment)],
      ['Membership', identity.registered ? `member ${identity.member_index} of the registry, through ${identity.federation}` : 'not registered yet'],
    ]));
  } else {
    body.appendChild(h('p', {}, 'An identity is a secret kept in a file on this computer (readable by you only). It lets you prove membership and revoke your records. Losing it loses the power to revoke.'));
  }
  const form = h('form', { class: 'stack', onsubmit: act('/api/identity/open') },
    field('Identity file (absolute path)', path, 'A new identity is written here; an existing file is never replaced.'),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, 'Open identity'),
      h('button', { type: 'button', class: 'secondary', onclick: act('/api/identity/create') }, 'Create new identity')));
  body.appendChild(form);
  body.appendChild(out);
  clear(sec, sec.firstChild, body);
}

function drawRegister(sec, identity, set) {
  const heading = sec.firstChild;
  if (!identity) {
    clear(sec, heading, h('p', { class: 'empty' }, 'Open or create an identity first.'));
    return;
  }
  if (identity.registered) {
    clear(sec, heading, okBox(h('p', {}, `You are member ${identity.member_index} of the federation's registry.`)));
    return;
  }
  const invite = h('input', { type: 'text', name: 'invite', autocomplete: 'off', spellcheck: 'false', required: true });
  const out = h('div', {});
  const form = h('form', { class: 'stack', onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out, h('p', { class: 'muted' }, 'Registering…'));
    try {
      set(await api.post('/api/contributor/register', { invite: invite.value.trim() }));
    } catch (e) {
      clear(out, errorBox(e));
    }
  } }, field('Invite token', invite, 'The single-use token the federation gave you.'), h('button', { type: 'submit' }, 'Register'), out);
  clear(sec, heading, h('p', {}, 'Registering adds your identity commitment (not your secret) to the federation\'s registry.'), form);
}

async function drawContribute(sec, s) {
  if (!s.pinned) {
    sec.appendChild(h('p', { class: 'warning' }, 'Contributing needs the federation\'s descriptor, so that your shares are sealed to the keys the federation names: restart the app with --federation federation.yaml.'));
  }
  const picker = await datasetPicker('Dataset');
  const formHost = h('div', {});
  const load = async (ev) => {
    ev && ev.preventDefault();
    clear(formHost, h('p', { class: 'muted' }, 'Loading the dataset…'));
    try {
      const ds = await api.get('/api/datasets/' + encodeURIComponent(picker.control.value.trim()));
      clear(formHost, recordForm(ds));
    } catch (e) {
      clear(formHost, errorBox(e));
    }
  };
  sec.appendChild(h('form', { class: 'inline', onsubmit: load }, field(picker.label, picker.control), h('button', { type: 'submit' }, 'Show the form')));
  sec.appendChild(formHost);
}

// recordForm is generated from the dataset's schema, with the consent
// terms explicit: nothing is ticked for the person.
function recordForm(ds) {
  const inputs = {};
  const fields = ds.fields.map((f) => {
    if (f.type === 'bool') {
      const name = uid('b');
      const yes = h('input', { type: 'radio', name, value: 'true', id: name + '-y', required: true });
      const no = h('input', { type: 'radio', name, value: 'false', id: name + '-n' });
      inputs[f.name] = () => (yes.checked ? 'true' : no.checked ? 'false' : '');
      return h('fieldset', { class: 'field' }, h('legend', {}, f.name),
        h('label', { for: yes.id, class: 'choice' }, yes, ' yes'), h('label', { for: no.id, class: 'choice' }, no, ' no'));
    }
    if (f.type === 'category') {
      const sel = h('select', { name: f.name, required: true }, h('option', { value: '' }, 'Choose…'), f.values.map((v) => h('option', { value: v }, v)));
      inputs[f.name] = () => sel.value;
      return field(f.name, sel, fieldRange(f));
    }
    const inp = h('input', { type: 'text', inputmode: 'decimal', name: f.name, required: true, autocomplete: 'off' });
    inputs[f.name] = () => inp.value.trim();
    return field(f.name, inp, fieldRange(f));
  });
  const purposes = ds.purposes.map((p) => h('input', { type: 'checkbox', name: 'purpose', value: p, id: uid('p') }));
  const nextYear = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString().slice(0, 10);
  const expiry = h('input', { type: 'date', name: 'expiry', value: nextYear, required: true });
  const minCohort = h('input', { type: 'number', name: 'min-cohort', min: ds.min_cohort, value: ds.min_cohort, required: true });
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Proving progress' });
  const st = status();
  const out = h('div', {});
  const submit = h('button', { type: 'submit' }, 'Prove and send my record');
  const form = h('form', { class: 'stack record-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const chosen = purposes.filter((c) => c.checked).map((c) => c.value);
    clear(out);
    if (chosen.length === 0) {
      out.appendChild(errorBox({ message: 'Tick at least one purpose you consent to.', code: 'InvalidArgument' }));
      return;
    }
    const record = {};
    for (const [k, get] of Object.entries(inputs)) record[k] = get();
    submit.disabled = true;
    try {
      const { task, epoch } = await api.post('/api/contributor/contribute', {
        dataset: ds.id, record, purposes: chosen, expiry: expiry.value, min_cohort: Number(minCohort.value),
      });
      clear(st, `Epoch ${epoch}: starting…`);
      const t = await follow(task, (t) => {
        progress.max = t.total || 1;
        progress.value = t.done;
        clear(st, `${stageNames[t.stage] || t.stage || 'Starting'}${t.total > 1 ? ` (${Math.round((100 * t.done) / t.total)}%)` : ''}`);
      });
      progress.value = progress.max;
      if (t.state === 'done') {
        clear(st, 'Done.');
        out.appendChild(okBox(h('p', {}, `Your record was accepted by all ${t.result.receipt.signatures} nodes.`)));
        out.appendChild(receiptView(t.result.receipt));
      } else {
        clear(st, 'Not sent.');
        out.appendChild(errorBox(t.error));
        if (t.result && t.result.receipt) {
          out.appendChild(h('p', {}, 'A record of yours for this epoch was already accepted:'));
          out.appendChild(receiptView(t.result.receipt));
        }
      }
    } catch (e) {
      out.appendChild(errorBox(e));
    } finally {
      submit.disabled = false;
    }
  } },
  devWarning(ds),
  h('fieldset', {}, h('legend', {}, `Your record for ${ds.id}`), fields),
  h('fieldset', { class: 'consent' }, h('legend', {}, 'Your consent'),
    h('p', { class: 'hint' }, 'Your record is used only by jobs whose purpose you tick, until the date you give, and only in results over at least the cohort you set. The proof binds these terms to the record.'),
    h('div', { class: 'purposes', role: 'group', 'aria-label': 'Purposes you consent to' },
      purposes.map((c) => h('label', { for: c.id, class: 'choice' }, c, ' ', c.value))),
    field('Use my record until (end of that day, UTC)', expiry),
    field('Only in results over at least this many records', minCohort, `The dataset's minimum is ${ds.min_cohort}.`)),
  submit, progress, st, out);
  return form;
}

// follow polls a task until it ends, calling each(t) on every update.
export async function follow(taskID, each) {
  for (;;) {
    const t = await api.get('/api/tasks/' + taskID);
    each(t);
    if (t.state !== 'running') return t;
    await sleep(400);
  }
}

function receiptView(r) {
  return h('div', { class: 'receipt', 'aria-label': 'Receipt' },
    kv([
      ['Dataset', r.dataset],
      ['Epoch', String(r.epoch)],
      ['Status', r.status],
      ['Accepted', r.accepted_at],
      r.revoked_at ? ['Revoked', r.revoked_at] : null,
      ['Signed by', `${r.signatures} nodes`],
      ['Nullifier', h('code', { class: 'hash', title: r.nullifier }, short(r.nullifier))],
      ['Payload digest', h('code', { class: 'hash', title: r.payload_digest }, short(r.payload_digest))],
    ]));
}

async function drawReceipts(sec) {
  const picker = await datasetPicker('Dataset');
  const epoch = h('input', { type: 'text', name: 'epoch', value: 'current', inputmode: 'numeric', autocomplete: 'off' });
  const out = h('div', {});
  const ds = () => picker.control.value.trim();
  const q = () => `dataset=${encodeURIComponent(ds())}&epoch=${encodeURIComponent(epoch.value.trim())}`;
  const run = (f) => async (ev) => {
    ev.preventDefault();
    clear(out, h('p', { class: 'muted' }, 'Asking the node…'));
    try {
      clear(out, await f());
    } catch (e) {
      clear(out, errorBox(e));
    }
  };
  const showReceipt = run(async () => {
    const r = await api.get('/api/contributor/receipt?' + q());
    return h('div', {}, receiptView(r), r.jobs && r.jobs.length ? h('p', {}, `Jobs that counted it: ${r.jobs.join(', ')}`) : null);
  });
  const showJobs = run(async () => {
    const r = await api.get('/api/contributor/jobs?dataset=' + encodeURIComponent(ds()));
    if (r.counted.length === 0) {
      return h('p', { class: 'empty' }, `None of the ${r.searched} released jobs on this dataset counted your records.`);
    }
    return table(`Released jobs that counted your records (searched ${r.searched}, on this computer)`, ['Job', 'Released', 'Cohort', 'Your record\'s epoch'],
      r.counted.map((c) => [c.job, c.released_at, String(c.cohort), String(c.epoch)]), { rowHeaders: true });
  });
  const revoke = run(async () => {
    let e = epoch.value.trim();
    if (e === 'current') {
      const d = await api.get('/api/datasets/' + encodeURIComponent(ds()));
      e = String(d.current_epoch);
    }
    if (!window.confirm(`Revoke your record for ${ds()}, epoch ${e}? No job admitted after this will use it. Jobs already released keep their results.`)) {
      return h('p', { class: 'muted' }, 'Nothing was revoked.');
    }
    const r = await api.post('/api/contributor/revoke', { dataset: ds(), epoch: Number(e) });
    return okBox(h('p', {}, `Revoked at ${r.revoked_at}; ${r.signatures} nodes signed the revocation.`));
  });
  sec.appendChild(h('form', { class: 'stack', onsubmit: showReceipt },
    h('div', { class: 'inline' }, field(picker.label, picker.control), field('Epoch', epoch, 'a number, or current')),
    h('div', { class: 'buttons' },
      h('button', { type: 'submit' }, 'Show my receipt'),
      h('button', { type: 'button', class: 'secondary', onclick: showJobs }, 'Which jobs counted my records?'),
      h('button', { type: 'button', class: 'danger', onclick: revoke }, 'Revoke this record'))));
  sec.appendChild(out);
}

const claimStepNames = {
  "fetching the job's transcript": 'Fetching the job\'s transcript',
  'fetching the claim proving key': 'Getting the claim proving key',
  'compiling the claim circuit': 'Preparing the claim circuit',
  'proving the claim': 'Proving that one of the counted records is yours (this can take a while)',
  'submitting the claim': 'Sending the claim',
};

const rewardStatus = {
  claimable: ['not claimed yet', 'warn'],
  claimed: ['claimed', 'good'],
  claimed_elsewhere: ['claimed already (the node says so)', 'good'],
};

// drawRewards lists the rewards of released jobs that counted the
// identity's records, claims one at a time with proving progress, and
// shows the payout balance.
async function drawRewards(sec) {
  sec.appendChild(h('p', {}, 'A priced job pays the same reward for each record it counted. You claim it with a proof, made on this computer, that one of the counted records is yours, without saying which. The node learns only that some counted record of the job was claimed, and when. The reward goes to a new payout key kept beside your identity file, not linked to your identity.'));
  const picker = await datasetPicker('Dataset');
  const st = status();
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Claim progress', hidden: true });
  const out = h('div', {});
  const balance = h('div', {});
  const ds = () => picker.control.value.trim();

  let busy = false;
  const claim = (job, button) => async () => {
    if (busy) return;
    busy = true;
    out.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    progress.hidden = false;
    progress.value = 0;
    clear(st, `Claiming the reward of ${job}…`);
    try {
      const { task, steps } = await api.post('/api/contributor/rewards/claim', { job });
      progress.max = steps;
      const t = await follow(task, (t) => {
        progress.value = t.done;
        clear(st, claimStepNames[t.stage] || t.stage || 'Starting');
      });
      progress.value = progress.max;
      if (t.state === 'done') {
        clear(st, okBox(h('p', {}, `Claimed: ${t.result.amount} micro-credits for job ${job}, to payout key `, h('code', { title: t.result.payout_key }, short(t.result.payout_key)), '.')),
          t.result.insecure_dev ? h('p', { class: 'warning' }, 'The federation\'s claim keys come from an insecure development setup: whoever ran it could forge claims.') : null);
      } else {
        clear(st, errorBox(t.error));
      }
    } catch (e) {
      clear(st, errorBox(e));
    } finally {
      busy = false;
      progress.hidden = true;
      await list();
      const again = out.querySelector('button');
      if (again) again.focus();
      else if (button) st.focus();
    }
  };

  const list = async (ev) => {
    if (ev) ev.preventDefault();
    clear(out, h('p', { class: 'muted' }, 'Searching the published transcripts on this computer…'));
    try {
      const r = await api.get('/api/contributor/rewards?dataset=' + encodeURIComponent(ds()));
      const p = r.payouts;
      clear(balance, kv([
        ['Payout balance', `${p.total} micro-credits in ${p.keys.length} payout key${p.keys.length === 1 ? '' : 's'}`],
        ['Payout keys kept in', h('code', {}, p.dir)],
      ]));
      if (r.rewards.length === 0) {
        clear(out, h('p', { class: 'empty' }, 'No released job on this dataset that counted your records pays a reward yet.'));
        return;
      }
      const rows = r.rewards.map((w) => {
        const [words, kind] = rewardStatus[w.status] || [w.status, 'neutral'];
        let action = '';
        if (w.status === 'claimable') {
          const b = h('button', { type: 'button', class: 'small', 'aria-label': `Claim ${w.reward} micro-credits for job ${w.job}` }, 'Claim');
          b.addEventListener('click', claim(w.job, b));
          action = b;
        } else if (w.status === 'claimed') {
          action = `${w.amount} micro-credits on ${w.claimed_at}`;
        }
        return [w.job, w.released_at, `${w.reward} micro-credits`, badge(words, kind), action];
      });
      clear(out,
        table('Rewards of the released jobs that counted your records', ['Job', 'Released', 'Reward', 'Status', ''], rows, { rowHeaders: true }),
        r.claimable ? h('p', {}, `${r.claimable} micro-credits can be claimed.`) : h('p', {}, 'Every reward is claimed.'));
    } catch (e) {
      clear(out, errorBox(e));
    }
  };
  st.setAttribute('tabindex', '-1');
  sec.appendChild(h('form', { class: 'inline', onsubmit: list }, field(picker.label, picker.control), h('button', { type: 'submit' }, 'Find my rewards')));
  sec.append(out, progress, st, balance);
}
