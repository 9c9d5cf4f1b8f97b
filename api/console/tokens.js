// Settings > API Tokens: the list (/settings/tokens), the Create Token
// dialog, and a token's page (/settings/tokens/{id}) with its Details,
// Policies and History tabs.
import {api, ApiError, enc, introspect} from './api.js';
import {clear, confirmDialog, copyText, formatDate, h, multiSelect, naturalSort, notify,
        openDialog, rowMenu, table, tabs} from './dom.js';
import {idErrors, idFromName, nameErrors} from './idmapper.js';
import {describeEvent, historyTable} from './history.js';

const UNASSIGNED = '(unassigned)';

export function projectsText(projects) {
  if (!projects || projects.length === 0) return UNASSIGNED;
  if (projects.length === 1) return projects[0];
  return `${projects.length} projects`;
}

function statusText(token) {
  if (token.expires_at && new Date(token.expires_at) <= new Date()) return 'Expired';
  return token.active ? 'Active' : 'Inactive';
}
// <input type=datetime-local> value (UTC) <-> RFC 3339 "Z" with whole seconds.
function toLocalInput(rfc) { return rfc ? new Date(rfc).toISOString().slice(0, 16) : ''; }
function fromLocalInput(v) { return v ? new Date(`${v}:00Z`).toISOString().replace(/\.\d{3}Z$/, 'Z') : ''; }
function expiresField(id, value, disabled) {
  return h('div', {class: 'field'},
    h('label', {for: id, class: 'label', text: 'Expires (UTC, optional)'}),
    h('input', {type: 'datetime-local', id, value: toLocalInput(value), disabled}),
    h('p', {class: 'detail', text: 'Leave empty for a token that does not expire (unless the server ' +
                                    'enforces a maximum lifetime).'}));
}
function expiresText(t) { return t.expires_at ? formatDate(t.expires_at) : 'Never'; }
function lastUsedText(t) { return t.last_used_at ? formatDate(t.last_used_at) : 'Never used'; }

// POST /tokens/{id}:rotate (API.md "Token lifecycle"): a new value; the old
// one keeps working for the grace period. Shows the new value once.
async function rotateDialog(token, onDone) {
  const grace = h('select', {id: 'rotate-grace', 'aria-label': 'Grace period'},
    [[0, 'None: the old value stops now'], [3600, '1 hour'], [86400, '1 day'], [604800, '7 days']]
      .map(([v, l]) => h('option', {value: v, text: l})));
  const error = h('p', {class: 'error', role: 'alert', id: 'rotate-error', hidden: true});
  const result = h('div', {id: 'rotate-result'});
  const go = h('button', {class: 'primary', id: 'rotate-submit', type: 'button', text: 'Rotate Token'});
  const dialog = openDialog({title: 'Rotate Token', id: 'rotate-dialog', onClose: onDone, body: [
    h('p', {class: 'dialog-message',
            text: `Give "${token.name}" a new value. Its ID and policy memberships stay.`}),
    h('div', {class: 'field'}, h('label', {for: 'rotate-grace', class: 'label',
      text: 'Keep the old value working for'}), grace),
    error, result,
    h('div', {class: 'button-bar'}, go,
      h('button', {class: 'secondary', type: 'button', id: 'rotate-close', text: 'Close',
                   onclick: () => dialog.close()})),
  ]});
  go.addEventListener('click', async () => {
    go.disabled = true;
    try {
      const r = await api('POST', `/tokens/${enc(token.id)}:rotate`, {grace_seconds: Number(grace.value)});
      const fresh = r.token || r;
      clear(result,
        h('p', {id: 'rotate-message', text: Number(grace.value) > 0 && r.previous_value_expires_at
          ? `Rotated. The old value works until ${formatDate(r.previous_value_expires_at)}.`
          : 'Rotated. The old value no longer works.'}),
        fresh.value ? h('button', {class: 'secondary', id: 'rotate-copy', type: 'button',
          text: 'Copy New Token', onclick: () => copyToken(fresh)}) : null);
      go.hidden = true;
    } catch (e) {
      if (e.status === 401) return;
      error.hidden = false;
      error.textContent = e.message;
      go.disabled = false;
    }
  });
}

async function copyToken(token) {
  try {
    await copyText(token.value);
    notify('API Token copied to clipboard.');
  } catch (e) {
    notify(`Could not copy the token: ${e.message}`, 'error');
  }
}

async function toggleStatus(token) {
  await api('PUT', `/tokens/${enc(token.id)}`,
            {name: token.name, active: !token.active, projects: token.projects || []});
}

// Asks, then deletes. Resolves true when deleted.
async function deleteToken(token) {
  const ok = await confirmDialog({
    title: 'Delete Token', id: 'delete-token-dialog', confirmLabel: 'Delete Token',
    message: `Delete token "${token.name}"? Anything using this token loses access at once. ` +
             'This cannot be undone.',
  });
  if (!ok) return false;
  try {
    await api('DELETE', `/tokens/${enc(token.id)}`);
    notify(`Deleted token "${token.name}".`);
    return true;
  } catch (e) {
    if (e.status !== 401) notify(`Could not delete token "${token.name}": ${e.message}`, 'error');
    return false;
  }
}

// ------------------------------------------------------------------ list

export function listPage(main, ctx) {
  const canList = ctx.perms['/tokens'].get;
  const canCreate = ctx.perms['/tokens'].post;
  document.title = 'API Tokens · iamledger';
  const filter = h('input', {type: 'search', id: 'token-filter', class: 'filter',
                             placeholder: 'Filter by name, ID or project',
                             'aria-label': 'Filter tokens'});
  const body = h('div', {class: 'page-body', id: 'token-list'});
  let all = [];
  clear(main,
    h('header', {class: 'page-header'},
      h('h1', {text: 'API Tokens'}),
      h('p', {class: 'subheading', text: 'API Tokens are used to access the iamledger API.'})),
    h('div', {class: 'toolbar'},
      canList ? filter : null,
      canCreate ? h('button', {class: 'primary', id: 'create-token', text: 'Create Token',
                               onclick: () => createTokenDialog(ctx, load)}) : null),
    body);

  const render = () => {
    if (!canList) {
      clear(body, h('p', {class: 'empty-state', text: 'This token may not list API tokens.'}));
      return;
    }
    if (all.length === 0) {
      clear(body, h('div', {class: 'empty-state', id: 'tokens-empty'},
        h('p', {text: canCreate ? 'Create the first token to get started!' : 'There are no tokens.'})));
      return;
    }
    const q = filter.value.trim().toLowerCase();
    const shown = all.filter((t) => !q || t.name.toLowerCase().includes(q) ||
      t.id.includes(q) || (t.projects || []).some((p) => p.toLowerCase().includes(q)));
    if (shown.length === 0) {
      clear(body, h('p', {class: 'empty-state', id: 'tokens-no-match',
                          text: `No tokens match "${filter.value.trim()}".`}));
      return;
    }
    // Token lifecycle fields (API.md): shown once any token carries them.
    const lifecycle = all.some((t) => t.expires_at || t.last_used_at);
    clear(body, table(['Name', 'ID', 'Projects', 'Created', 'Status',
                       ...(lifecycle ? ['Expires', 'Last used'] : []), ''],
      shown.map((t) => h('tr', {'data-token-id': t.id},
        h('td', {}, h('a', {href: `/settings/tokens/${enc(t.id)}`, class: 'token-link', text: t.name})),
        h('td', {class: 'mono', text: t.id}),
        h('td', {text: projectsText(t.projects), title: (t.projects || []).join(', ')}),
        h('td', {text: formatDate(t.created_at)}),
        h('td', {class: 'status', text: statusText(t)}),
        lifecycle ? h('td', {class: 'expires', text: expiresText(t)}) : null,
        lifecycle ? h('td', {class: 'last-used', text: lastUsedText(t)}) : null,
        h('td', {class: 'menu-cell'}, rowMenu({
          label: `Actions for ${t.name}`,
          items: [
            {label: 'Copy Token', disabled: !t.value, onSelect: () => copyToken(t)},
            {label: 'Toggle Status', onSelect: async () => {
              try { await toggleStatus(t); await load(); } catch (e) {
                if (e.status !== 401) notify(`Could not change the status: ${e.message}`, 'error');
              }
            }},
            {label: 'Delete Token', onSelect: async () => { if (await deleteToken(t)) await load(); }},
          ],
          onOpen: async (buttons) => {
            const m = await introspect(`/tokens/${t.id}`);
            buttons[1].disabled = !m.put;
            buttons[2].disabled = !m.delete;
          },
        })))), {id: 'tokens-table'}));
  };
  filter.addEventListener('input', render);

  async function load() {
    if (!canList) return render();
    try {
      all = naturalSort((await api('GET', '/tokens')).tokens || [], 'name');
    } catch (e) {
      if (e.status === 401) return;
      clear(body, h('p', {class: 'error', role: 'alert', text: `Could not load tokens: ${e.message}`}));
      return;
    }
    render();
  }
  load();
}

// ---------------------------------------------------- Create Token dialog

async function choices(ctx) {
  const get = async (perm, path, key) => {
    if (!ctx.perms[perm].get) return null;
    try { return (await api('GET', path, undefined, {noFilter: true}))[key] || []; }
    catch (e) { if (e.status === 401) throw e; return null; }
  };
  const [policies, projects] = await Promise.all([
    get('/policies', '/policies', 'policies'), get('/projects', '/projects', 'projects')]);
  return {policies, projects};
}

export async function createTokenDialog(ctx, onCreated) {
  let modifyId = false;
  let conflict = false;
  let creating = false;
  let nameDirty = false;
  let id = '';
  const {policies, projects} = await choices(ctx);

  const name = h('input', {type: 'text', id: 'create-name', autocomplete: 'off', required: true});
  const nameError = h('p', {class: 'field-error', id: 'create-name-error', hidden: true});
  const idRow = h('div', {class: 'id-row'});
  const idErrorsEl = h('div', {class: 'field-errors', id: 'create-id-errors'});
  const serverError = h('p', {class: 'error', id: 'create-error', role: 'alert', hidden: true});
  const policySelect = multiSelect({
    id: 'create-policies', label: 'Policies', disabled: policies === null,
    items: naturalSort(policies || [], 'name').map((p) => ({
      value: p.id, label: `${p.name} (${p.type === 'CHEF_MANAGED' ? 'Chef-managed' : 'Custom'})`})),
    emptyText: 'No policies.'});
  const projectSelect = multiSelect({
    id: 'create-projects', label: 'Projects', noneLabel: UNASSIGNED, disabled: projects === null,
    items: naturalSort(projects || [], 'name').map((p) => ({value: p.id, label: p.name})),
    emptyText: 'No projects.'});
  const expiresEl = expiresField('create-expires', '', false);
  const submit = h('button', {class: 'primary', id: 'create-submit', type: 'button',
                              text: 'Create Token', onclick: () => create()});

  const idInput = h('input', {type: 'text', id: 'create-id', autocomplete: 'off'});
  idInput.addEventListener('input', () => { id = idInput.value; conflict = false; update(); });

  function renderIdRow() {
    if (modifyId) {
      idInput.value = id;
      clear(idRow, h('label', {for: 'create-id', class: 'label', text: 'ID *'}), idInput,
            idErrorsEl,
            h('p', {class: 'detail', text: 'Token IDs are unique, permanent, and cannot be changed later.'}));
    } else {
      clear(idRow, h('div', {class: 'derived-id'},
                     h('span', {class: 'key-label', text: 'ID: '}),
                     h('span', {id: 'create-id-label', text: id})),
            h('button', {class: 'link', type: 'button', id: 'create-edit-id', text: 'Edit ID',
                         onclick: () => { modifyId = true; renderIdRow(); idInput.focus(); update(); }}),
            idErrorsEl);
    }
  }

  function update() {
    const nErr = nameErrors(name.value);
    nameError.hidden = !(nameDirty && nErr.length);
    nameError.textContent = nErr.join(' ');
    const iErr = idErrors(id);
    const showIdErrors = modifyId || id.length > 0;
    const messages = [...(showIdErrors ? iErr : []),
                      ...(conflict ? [`Token ID "${id}" already exists.`] : [])];
    clear(idErrorsEl, messages.map((m) => h('p', {class: 'field-error', text: m})));
    if (!modifyId) {
      const label = document.getElementById('create-id-label');
      if (label) label.textContent = id;
    }
    submit.disabled = creating || conflict || nErr.length > 0 || iErr.length > 0;
    submit.textContent = creating ? 'Creating Token...' : 'Create Token';
  }

  name.addEventListener('input', () => {
    nameDirty = true;
    serverError.hidden = true;
    if (!modifyId) { conflict = false; id = idFromName(name.value); }
    update();
  });

  async function create() {
    creating = true;
    serverError.hidden = true;
    update();
    const body = {id, name: name.value.trim(), projects: projectSelect.values()};
    const expires = fromLocalInput(expiresEl.querySelector('input').value);
    if (expires) body.expires_at = expires;
    try {
      await api('POST', '/tokens', body);
    } catch (e) {
      creating = false;
      if (e.status === 409) {
        conflict = true;
        if (!modifyId) { modifyId = true; renderIdRow(); }
      } else if (e.status !== 401) {
        serverError.hidden = false;
        serverError.textContent = e.message;
      }
      update();
      return;
    }
    // As Automate: the token exists; now add it to each chosen policy.
    const failed = [];
    for (const pid of policySelect.values()) {
      try {
        await api('POST', `/policies/${enc(pid)}/members:add`, {members: [`token:${id}`]}, {noFilter: true});
      } catch (e) {
        if (e.status === 401) return;
        failed.push(`${pid}: ${e.message}`);
      }
    }
    dialog.close();
    notify(`Created token "${body.name}".`);
    if (failed.length) {
      notify(`The token was created but could not be added to ${failed.join('; ')}`, 'error');
    }
    if (onCreated) onCreated();
  }

  renderIdRow();
  const dialog = openDialog({
    title: 'Create Token', id: 'create-token-dialog',
    body: h('form', {class: 'dialog-form', onsubmit: (e) => { e.preventDefault(); if (!submit.disabled) create(); }},
      h('div', {class: 'field'},
        h('label', {for: 'create-name', class: 'label', text: 'Name *'}), name, nameError,
        h('p', {class: 'detail', text: "Don't worry, token names can be changed later."})),
      idRow,
      h('div', {class: 'field'}, policySelect,
        h('p', {class: 'detail', text: 'Assign the token to a policy to give the token permissions.'})),
      h('div', {class: 'field'}, projectSelect),
      expiresEl,
      serverError,
      h('div', {class: 'button-bar'}, submit,
        h('button', {class: 'secondary', type: 'button', id: 'create-cancel', text: 'Cancel',
                     onclick: () => dialog.close()}))),
  });
  update();
  name.focus();
}

// ------------------------------------------------------------ token page

function membership(policy, tokenId) {
  const m = policy.members || [];
  if (m.includes(`token:${tokenId}`)) return `token:${tokenId}`;
  if (m.includes('token:*')) return 'token:*';
  if (m.includes('*')) return '*';
  return null;
}

export function detailPage(main, ctx, tokenId, initialTab) {
  let token = null;
  let etag = null;
  let events = [];
  let methods = {};
  let canRotate = false;  // the server has :rotate and this token may use it
  let alive = true;
  document.title = `${tokenId} · API Tokens · iamledger`;
  const header = h('header', {class: 'page-header'});
  const body = h('div', {class: 'page-body'});
  clear(main, h('nav', {class: 'breadcrumb'}, h('a', {href: '/settings/tokens', text: 'API Tokens'}),
                ' / ', h('span', {text: tokenId})), header, body);

  async function loadHistory() {
    try { events = (await api('GET', `/tokens/${enc(tokenId)}/history`)).events || []; }
    catch (e) { if (e.status === 401) throw e; events = null; }
  }

  async function load() {
    try {
      const [r] = await Promise.all([
        api('GET', `/tokens/${enc(tokenId)}`, undefined, {full: true}).catch((e) => e),
        loadHistory(),
        introspect(`/tokens/${tokenId}`).then((m) => { methods = m; }),
        introspect(`/tokens/${tokenId}:rotate`).then((m) => { canRotate = !!m.post; }),
      ]);
      if (r instanceof ApiError) throw r;
      token = r.data.token;
      etag = r.etag;
    } catch (e) {
      if (e.status === 401 || !alive) return;
      token = null;
      if (e.status === 404) return renderGone();
      clear(body, h('p', {class: 'error', role: 'alert', text: `Could not load the token: ${e.message}`}));
      return;
    }
    if (!alive) return;
    renderHeader();
    renderTabs(initialTab);
  }

  function renderGone() {
    clear(header, h('h1', {text: tokenId}),
          h('p', {class: 'subheading', id: 'token-gone',
                  text: 'This token does not exist (it was deleted, or is outside the chosen projects).'}));
    if (events && events.length) {
      clear(body, h('h2', {text: 'History'}), historyTable(events, {id: 'history-table'}));
    } else {
      clear(body);
    }
  }

  function lastChange() {
    if (!events || events.length === 0) return null;
    return events[events.length - 1];
  }

  function renderHeader() {
    const last = lastChange();
    clear(header,
      h('div', {class: 'header-row'},
        h('h1', {id: 'token-title', text: token.name}),
        h('div', {class: 'header-actions'},
          h('button', {class: 'secondary', id: 'token-copy', text: 'Copy Token', disabled: !token.value,
                       onclick: () => copyToken(token)}),
          canRotate ? h('button', {class: 'secondary', id: 'token-rotate', text: 'Rotate Token',
            onclick: () => rotateDialog(token, () => load())}) : null,
          h('button', {class: 'danger', id: 'token-delete', text: 'Delete Token', disabled: !methods.delete,
                       onclick: async () => { if (await deleteToken(token)) ctx.navigate('/settings/tokens'); }}))),
      h('dl', {class: 'summary', id: 'token-summary'},
        h('div', {}, h('dt', {text: 'ID'}), h('dd', {class: 'mono', id: 'summary-id', text: token.id})),
        h('div', {}, h('dt', {text: 'Projects'}), h('dd', {id: 'summary-projects',
          text: (token.projects || []).length ? token.projects.join(', ') : UNASSIGNED})),
        h('div', {}, h('dt', {text: 'Created'}), h('dd', {id: 'summary-created', text: formatDate(token.created_at)})),
        h('div', {}, h('dt', {text: 'Status'}), h('dd', {id: 'summary-status', text: statusText(token)})),
        'expires_at' in token || 'last_used_at' in token || canRotate
          ? [h('div', {}, h('dt', {text: 'Expires'}), h('dd', {id: 'summary-expires', text: expiresText(token)})),
             h('div', {}, h('dt', {text: 'Last used'}), h('dd', {id: 'summary-last-used', text: lastUsedText(token)}))]
          : null,
        last ? h('div', {}, h('dt', {text: 'Last changed by'}), h('dd', {id: 'summary-changed',
          text: `${last.actor}, ${formatDate(last.recorded_at)}`})) : null));
  }

  let tabsEl = null;
  function renderTabs(which) {
    tabsEl = tabs([
      {id: 'details', label: 'Details', render: renderDetails},
      {id: 'policies', label: 'Policies', render: renderPolicies},
      {id: 'history', label: 'History', render: renderHistory},
    ], which);
    clear(body, tabsEl);
  }

  async function renderDetails(panel) {
    let projects = null;
    if (ctx.perms['/projects'].get) {
      try { projects = (await api('GET', '/projects', undefined, {noFilter: true})).projects || []; }
      catch (e) { if (e.status === 401) return; }
    }
    const current = token.projects || [];
    const items = naturalSort(projects || [], 'name').map((p) => ({value: p.id, label: p.name}));
    for (const p of current) if (!items.some((i) => i.value === p)) items.push({value: p, label: p});
    const readOnly = !methods.put;
    const name = h('input', {type: 'text', id: 'token-name', value: token.name, disabled: readOnly});
    const status = h('select', {id: 'token-status', disabled: readOnly},
      h('option', {value: 'active', text: 'Active', selected: token.active}),
      h('option', {value: 'inactive', text: 'Inactive', selected: !token.active}));
    const expiresEl = expiresField('token-expires', token.expires_at, readOnly);
    const expires = expiresEl.querySelector('input');
    const saved = h('p', {class: 'saved', id: 'save-status', role: 'status'});
    const error = h('p', {class: 'error', id: 'save-error', role: 'alert', hidden: true});
    const save = h('button', {class: 'primary', id: 'token-save', type: 'submit', text: 'Save', disabled: true});
    const nameError = h('p', {class: 'field-error', id: 'token-name-error', hidden: true});
    let projectSelect;
    const dirty = () => {
      const p = projectSelect.values();
      return name.value.trim() !== token.name || (status.value === 'active') !== token.active ||
             expires.value !== toLocalInput(token.expires_at) ||
             p.length !== current.length || p.some((x) => !current.includes(x));
    };
    const onChange = () => {
      saved.textContent = '';
      const bad = name.value.trim() === '';
      nameError.hidden = !bad;
      nameError.textContent = bad ? 'Name is required.' : '';
      save.disabled = readOnly || bad || !dirty();
    };
    projectSelect = multiSelect({id: 'token-projects', label: 'Projects', noneLabel: UNASSIGNED,
                                 items, selected: current, disabled: readOnly || projects === null,
                                 onChange});
    name.addEventListener('input', onChange);
    status.addEventListener('change', onChange);
    expires.addEventListener('input', onChange);
    expires.addEventListener('change', onChange);
    clear(panel, h('form', {class: 'details-form', id: 'token-details', onsubmit: async (e) => {
      e.preventDefault();
      save.disabled = true;
      error.hidden = true;
      try {
        const update = {name: name.value.trim(), active: status.value === 'active',
                        projects: projectSelect.values()};
        // Omitted keeps the expiry (API.md); "" clears it.
        if (expires.value !== toLocalInput(token.expires_at)) update.expires_at = fromLocalInput(expires.value);
        const r = await api('PUT', `/tokens/${enc(token.id)}`, update, {full: true, ifMatch: etag});
        token = r.data.token;
        const again = await api('GET', `/tokens/${enc(token.id)}`, undefined, {full: true});
        token = again.data.token;
        etag = again.etag;
        await loadHistory();
        renderHeader();
        renderDetails(panel).then(() => {
          document.getElementById('save-status').textContent = 'All changes saved.';
        });
      } catch (e) {
        if (e.status === 401) return;
        if (e.status === 412) {
          // Someone else saved first: show their version, say so.
          try {
            const again = await api('GET', `/tokens/${enc(token.id)}`, undefined, {full: true});
            token = again.data.token;
            etag = again.etag;
            await loadHistory();
            renderHeader();
            await renderDetails(panel);
          } catch (e2) { if (e2.status === 401) return; }
          const err = document.getElementById('save-error');
          err.hidden = false;
          err.textContent = 'Someone else changed this token meanwhile: their version is shown ' +
                            'above; make your change again.';
          return;
        }
        error.hidden = false;
        error.textContent = e.message;
        onChange();
      }
    }},
      h('div', {class: 'field'}, h('label', {for: 'token-name', class: 'label', text: 'Name'}), name, nameError),
      h('div', {class: 'field'}, projectSelect),
      h('div', {class: 'field'}, h('label', {for: 'token-status', class: 'label', text: 'Status'}), status),
      expiresEl,
      readOnly ? h('p', {class: 'muted', text: 'This token may not change it.'}) : null,
      error,
      h('div', {class: 'button-bar'}, save, saved)));
  }

  async function renderPolicies(panel) {
    if (!ctx.perms['/policies'].get) {
      clear(panel, h('p', {class: 'empty-state', text: 'This token may not list policies.'}));
      return;
    }
    let list;
    try { list = naturalSort((await api('GET', '/policies', undefined, {noFilter: true})).policies || [], 'name'); }
    catch (e) {
      if (e.status !== 401) clear(panel, h('p', {class: 'error', role: 'alert', text: e.message}));
      return;
    }
    const member = `token:${token.id}`;
    const named = list.map((p) => [p, membership(p, token.id)]).filter(([, via]) => via);
    const others = list.filter((p) => !(p.members || []).includes(member));
    const pick = h('select', {id: 'policy-to-add', 'aria-label': 'Policy to add this token to'},
      h('option', {value: '', text: 'Choose a policy…'}),
      others.map((p) => h('option', {value: p.id, text: `${p.name} (${p.id})`})));
    const add = h('button', {class: 'primary', id: 'policy-add', text: 'Add to Policy', type: 'button',
      onclick: async () => {
        if (!pick.value) return;
        try {
          await api('POST', `/policies/${enc(pick.value)}/members:add`, {members: [member]}, {noFilter: true});
          notify(`Added ${member} to policy "${pick.value}".`);
          await loadHistory();
          renderHeader();
          renderPolicies(panel);
        } catch (e) { if (e.status !== 401) notify(e.message, 'error'); }
      }});
    clear(panel,
      h('div', {class: 'toolbar'}, pick, add),
      named.length === 0
        ? h('p', {class: 'empty-state', id: 'token-policies-empty',
                  text: 'No policy names this token: it can do nothing yet.'})
        : table(['Name', 'ID', 'Type', 'Member through', ''], named.map(([p, via]) => h('tr', {'data-policy-id': p.id},
            h('td', {}, h('a', {href: `/settings/policies/${enc(p.id)}`, text: p.name})),
            h('td', {class: 'mono', text: p.id}),
            h('td', {text: p.type === 'CHEF_MANAGED' ? 'Chef-managed' : 'Custom'}),
            h('td', {class: 'mono', text: via}),
            h('td', {}, via === member ? h('button', {class: 'secondary small', text: 'Remove',
              'data-remove-policy': p.id, onclick: async () => {
                const ok = await confirmDialog({title: 'Remove from Policy', id: 'remove-policy-dialog',
                  confirmLabel: 'Remove', message: `Remove this token from policy "${p.name}"?`});
                if (!ok) return;
                try {
                  await api('POST', `/policies/${enc(p.id)}/members:remove`, {members: [member]}, {noFilter: true});
                  notify(`Removed ${member} from policy "${p.name}".`);
                  renderPolicies(panel);
                } catch (e) { if (e.status !== 401) notify(e.message, 'error'); }
              }}) : h('span', {class: 'muted', text: 'through a wildcard'})))),
            {id: 'token-policies-table'}));
  }

  function renderHistory(panel) {
    if (events === null) {
      clear(panel, h('p', {class: 'empty-state', text: 'This token may not read the history.'}));
      return;
    }
    clear(panel, historyTable(events, {id: 'history-table'}));
  }

  load();
  return () => { alive = false; };
}

export {describeEvent};
