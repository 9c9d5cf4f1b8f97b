// The console's shell: sign-in, the layout (navigation, project filter,
// Sign out), the client-side router and the permissions of the signed-in
// token (from POST /introspect_some, as Automate's UI does).
import {api, introspectSome, onUnauthorized, session} from './api.js';
import {clear, h, multiSelect} from './dom.js';
import * as tokens from './tokens.js';
import * as policies from './policies.js';
import * as activity from './activity.js';

const root = document.getElementById('app');
let cleanup = null;  // the current page's teardown (e.g. the activity tail)
let signingIn = false;  // a 401 then means "wrong token", not "session ended"

// The literal paths whose methods gate what the screens offer.
const PERMISSION_PATHS = ['/tokens', '/policies', '/projects', '/events', '/introspect_projects'];

const ROUTES = [
  [/^\/settings\/tokens$/, tokens.listPage],
  [/^\/settings\/tokens\/([^/]+)$/, tokens.detailPage],
  [/^\/settings\/policies$/, policies.listPage],
  [/^\/settings\/policies\/([^/]+)$/, policies.detailPage],
  [/^\/settings\/activity$/, activity.page],
];

const ctx = {
  perms: null,
  navigate(path) {
    history.pushState(null, '', path);
    renderRoute();
  },
  refresh() { renderRoute(); },
};

function teardown() {
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } }
  cleanup = null;
}

onUnauthorized(() => {
  if (!session.token || signingIn) return;
  session.signOut();
  showSignIn('Your session has ended: the server no longer accepts this token (401). ' +
             'Sign in again with a valid API token.');
});

function showSignIn(message = '') {
  teardown();
  ctx.perms = null;
  document.title = 'Sign in · iamledger';
  const input = h('input', {type: 'password', id: 'signin-token', name: 'token',
                            autocomplete: 'off', spellcheck: 'false', required: true,
                            'aria-describedby': 'signin-help'});
  const error = h('p', {class: 'error', id: 'signin-message', role: 'alert', hidden: !message,
                        text: message});
  const button = h('button', {class: 'primary', type: 'submit', id: 'signin-submit', text: 'Sign In'});
  const form = h('form', {class: 'signin-form', id: 'signin-form', onsubmit: async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) { error.hidden = false; error.textContent = 'Enter an API token.'; return; }
    button.disabled = true;
    session.signIn(value);
    signingIn = true;
    try {
      await loadPermissions();
    } catch (err) {
      signingIn = false;
      session.signOut();
      button.disabled = false;
      error.hidden = false;
      error.textContent = err.status === 401
        ? 'The server did not accept this token: it does not exist, is inactive or has expired.'
        : `Could not sign in: ${err.message}`;
      return;
    }
    signingIn = false;
    if (!/^\/settings\//.test(location.pathname)) history.replaceState(null, '', '/settings/tokens');
    renderLayout();
  }},
    h('label', {for: 'signin-token', text: 'API token'}),
    input,
    h('p', {class: 'muted', id: 'signin-help',
            text: 'The console acts with this token only: it can do exactly what the token may do. ' +
                  'The token is kept in this browser tab and forgotten when you sign out or close the tab.'}),
    error, button);
  clear(root, h('main', {class: 'signin'},
    h('div', {class: 'signin-card'},
      h('h1', {text: 'iamledger'}),
      h('p', {class: 'subheading', text: 'Sign in with an API token'}),
      form)));
  input.focus();
}

async function loadPermissions() {
  ctx.perms = await introspectSome(PERMISSION_PATHS);
}

async function projectFilter() {
  const holder = h('div', {class: 'project-filter'});
  if (!ctx.perms['/introspect_projects'].get) return holder;
  let projects = [];
  try { projects = (await api('GET', '/introspect_projects', undefined, {noFilter: true})).projects || []; }
  catch (e) { if (e.status === 401) return holder; }
  const known = new Set(projects.map((p) => p.id));
  const selected = session.projects.filter((p) => known.has(p));
  session.projects = selected;
  holder.append(multiSelect({
    id: 'project-filter', label: 'Projects', noneLabel: 'All projects',
    items: projects.map((p) => ({value: p.id, label: p.name || p.id})),
    selected,
    onChange: (values) => { session.projects = values; renderRoute(); },
  }));
  return holder;
}

function renderLayout() {
  teardown();
  const p = ctx.perms;
  const nav = h('nav', {class: 'sidebar', 'aria-label': 'Settings'},
    h('div', {class: 'brand', text: 'iamledger'}),
    h('h2', {class: 'nav-heading', text: 'Settings'}),
    h('ul', {},
      h('li', {}, h('a', {href: '/settings/tokens', id: 'nav-tokens', class: 'nav-link', text: 'API Tokens'})),
      p['/policies'].get ? h('li', {}, h('a', {href: '/settings/policies', id: 'nav-policies',
                                                class: 'nav-link', text: 'Policies'})) : null,
      p['/events'].get ? h('li', {}, h('a', {href: '/settings/activity', id: 'nav-activity',
                                              class: 'nav-link', text: 'Activity'})) : null));
  const filterSlot = h('div', {class: 'filter-slot'});
  const top = h('header', {class: 'topbar'},
    filterSlot,
    h('button', {class: 'secondary', id: 'sign-out', text: 'Sign out', onclick: () => {
      session.signOut();
      showSignIn();
      const msg = document.getElementById('signin-message');
      msg.hidden = false;
      msg.classList.remove('error');
      msg.textContent = 'You have signed out.';
    }}));
  const main = h('main', {class: 'content', id: 'page'});
  clear(root, h('div', {class: 'layout'}, nav,
    h('div', {class: 'main-column'}, top,
      h('div', {id: 'notifications', class: 'notifications', 'aria-live': 'polite'}), main)));
  projectFilter().then((el) => filterSlot.append(el));
  renderRoute();
}

function renderRoute() {
  teardown();
  const main = document.getElementById('page');
  if (!main || !ctx.perms) return;
  for (const a of document.querySelectorAll('.nav-link')) {
    a.classList.toggle('active', location.pathname.startsWith(a.getAttribute('href')));
  }
  for (const [re, page] of ROUTES) {
    const m = location.pathname.match(re);
    if (m) {
      clear(main);
      const params = m.slice(1).map((x) => { try { return decodeURIComponent(x); } catch { return x; } });
      cleanup = page(main, ctx, ...params) || null;
      return;
    }
  }
  clear(main, h('h1', {text: 'Not found'}),
        h('p', {}, 'No such page. ', h('a', {href: '/settings/tokens', text: 'API Tokens'})));
}

// Same-origin links under /settings/ stay in the app.
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[href^="/settings/"]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  if (a.getAttribute('href') !== location.pathname) ctx.navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => renderRoute());

async function start() {
  if (!session.token) return showSignIn();
  try {
    await loadPermissions();
  } catch (e) {
    if (e.status !== 401) {
      clear(root, h('main', {class: 'signin'}, h('p', {class: 'error', role: 'alert',
        text: `The server could not be reached: ${e.message}`})));
    }
    return;
  }
  renderLayout();
}
start();
