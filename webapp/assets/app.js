// The app's router: one page per hash (#/, #/contributor, #/buyer,
// #/auditor), each drawn into <main>.
import { clear, h } from './dom.js';
import { errorBox } from './ui.js';
import { homePage } from './pages/home.js';
import { contributorPage } from './pages/contributor.js';
import { buyerPage } from './pages/buyer.js';
import { auditorPage } from './pages/auditor.js';

const pages = {
  home: { title: 'Federation', draw: homePage },
  contributor: { title: 'Contributor', draw: contributorPage },
  buyer: { title: 'Buyer', draw: buyerPage },
  auditor: { title: 'Auditor', draw: auditorPage },
};

function current() {
  const name = location.hash.replace(/^#\/?/, '').split('/')[0];
  return pages[name] ? name : 'home';
}

let generation = 0;

async function route(focus) {
  const name = current();
  const page = pages[name];
  const main = document.getElementById('main');
  generation += 1;
  const mine = generation;
  document.title = `${page.title} · Cohort`;
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = h('div', { class: 'page', 'data-page': name });
  clear(main, root);
  try {
    await page.draw(root, () => mine === generation);
  } catch (e) {
    root.appendChild(errorBox(e));
  }
  if (focus) main.focus();
}

window.addEventListener('hashchange', () => route(true));
route(false);
