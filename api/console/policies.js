// Settings > Policies: the list (/settings/policies) and a policy's page
// (/settings/policies/{id}) with its Definition and Members.
import {api, enc, introspect} from './api.js';
import {clear, confirmDialog, copyText, h, naturalSort, notify, openDialog, rowMenu, table,
        tabs} from './dom.js';
import {historyTable} from './history.js';

// automate-iam-v2.md §9, the member expression grammar.
const MEMBER_RE = /^(?:team|user):(?:local|ldap|saml):(?:[^:*]+|[*])$|^(?:(?:team|user|token|tls):)?[*]$|^token:[^:*]+$|^tls:service:(?:[^:*]+:)?(?:[^:*]+|[*])$/;

export function typeText(p) { return p.type === 'CHEF_MANAGED' ? 'Chef-managed' : 'Custom'; }
function statusText(p) { return (p.members || []).length ? 'In use' : 'No members'; }

// What a member expression means, for the Members table.
function memberKind(m) {
  if (m === '*') return 'Everyone';
  const [kind, a, b] = m.split(':');
  if (kind === 'token') return a === '*' ? 'All API tokens' : 'API token';
  if (kind === 'user' || kind === 'team') {
    const what = kind === 'user' ? 'user' : 'team';
    if (a === '*') return `All ${what}s`;
    return b === '*' ? `All ${a.toUpperCase()} ${what}s` : `${a.toUpperCase()} ${what}`;
  }
  if (kind === 'tls') return 'Service certificate';
  return kind;
}

async function deletePolicy(p) {
  const ok = await confirmDialog({title: 'Delete Policy', id: 'delete-policy-dialog',
    confirmLabel: 'Delete Policy',
    message: `Delete policy "${p.name}"? Its members lose what it grants at once.`});
  if (!ok) return false;
  try {
    await api('DELETE', `/policies/${enc(p.id)}`, undefined, {noFilter: true});
    notify(`Deleted policy "${p.name}".`);
    return true;
  } catch (e) {
    if (e.status !== 401) notify(`Could not delete policy "${p.name}": ${e.message}`, 'error');
    return false;
  }
}

export function listPage(main, ctx) {
  document.title = 'Policies · iamledger';
  const filter = h('input', {type: 'search', id: 'policy-filter', class: 'filter',
                             placeholder: 'Filter by name or ID', 'aria-label': 'Filter policies'});
  const body = h('div', {class: 'page-body'});
  let all = [];
  clear(main,
    h('header', {class: 'page-header'}, h('h1', {text: 'Policies'}),
      h('p', {class: 'subheading',
              text: 'Policies grant their members (API tokens, users, teams) permissions.'})),
    h('div', {class: 'toolbar'}, filter), body);
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = all.filter((p) => !q || p.name.toLowerCase().includes(q) || p.id.includes(q));
    if (shown.length === 0) {
      clear(body, h('p', {class: 'empty-state', text: all.length ? `No policies match "${filter.value.trim()}".`
                                                                  : 'There are no policies.'}));
      return;
    }
    clear(body, table(['Name', 'ID', 'Type', 'Status', ''], shown.map((p) => h('tr', {'data-policy-id': p.id},
      h('td', {}, h('a', {href: `/settings/policies/${enc(p.id)}`, text: p.name})),
      h('td', {class: 'mono', text: p.id}),
      h('td', {class: 'type', text: typeText(p)}),
      h('td', {class: 'status', text: statusText(p)}),
      h('td', {class: 'menu-cell'}, p.type === 'CHEF_MANAGED' ? null : rowMenu({
        label: `Actions for ${p.name}`,
        items: [{label: 'Delete Policy', onSelect: async () => { if (await deletePolicy(p)) load(); }}],
        onOpen: async (buttons) => { buttons[0].disabled = !(await introspect(`/policies/${p.id}`)).delete; },
      })))), {id: 'policies-table'}));
  };
  filter.addEventListener('input', render);
  async function load() {
    try { all = naturalSort((await api('GET', '/policies')).policies || [], 'name'); }
    catch (e) {
      if (e.status !== 401) clear(body, h('p', {class: 'error', role: 'alert', text: e.message}));
      return;
    }
    render();
  }
  load();
}

export function detailPage(main, ctx, policyId) {
  document.title = `${policyId} · Policies · iamledger`;
  let policy = null;
  let members = [];
  let methods = {};
  const header = h('header', {class: 'page-header'});
  const body = h('div', {class: 'page-body'});
  clear(main, h('nav', {class: 'breadcrumb'}, h('a', {href: '/settings/policies', text: 'Policies'}),
                ' / ', h('span', {text: policyId})), header, body);

  async function load() {
    try {
      const [p, m, mm] = await Promise.all([
        api('GET', `/policies/${enc(policyId)}`),
        api('GET', `/policies/${enc(policyId)}/members`).catch((e) => { if (e.status === 401) throw e; return null; }),
        introspect(`/policies/${policyId}/members`),
      ]);
      policy = p.policy;
      members = m ? m.members : null;
      methods = mm;
      methods.add = (await introspect(`/policies/${policyId}/members:add`)).post;
      methods.remove = (await introspect(`/policies/${policyId}/members:remove`)).post;
    } catch (e) {
      if (e.status !== 401) {
        clear(header, h('h1', {text: policyId}));
        clear(body, h('p', {class: 'error', role: 'alert', text: e.message}));
      }
      return;
    }
    clear(header, h('h1', {id: 'policy-title', text: policy.name}),
      h('dl', {class: 'summary'},
        h('div', {}, h('dt', {text: 'ID'}), h('dd', {class: 'mono', text: policy.id})),
        h('div', {}, h('dt', {text: 'Type'}), h('dd', {id: 'policy-type', text: typeText(policy)})),
        h('div', {}, h('dt', {text: 'Status'}), h('dd', {id: 'policy-status',
          text: statusText({members: members || policy.members})}))));
    clear(body, tabs([
      {id: 'definition', label: 'Definition', render: renderDefinition},
      {id: 'members', label: 'Members', render: renderMembers},
      {id: 'policy-history', label: 'History', render: renderHistory},
    ]));
  }

  function renderDefinition(panel) {
    const json = JSON.stringify(policy, null, 2);
    clear(panel,
      h('div', {class: 'toolbar'}, h('button', {class: 'secondary', id: 'copy-json', text: 'Copy JSON',
        onclick: async () => {
          try { await copyText(json); notify('Policy JSON copied to clipboard.'); }
          catch (e) { notify(`Could not copy: ${e.message}`, 'error'); }
        }})),
      h('pre', {class: 'json', id: 'policy-json', text: json}));
  }

  async function renderHistory(panel) {
    try {
      const r = await api('GET', `/policies/${enc(policyId)}/history`);
      clear(panel, historyTable(r.events || [], {id: 'policy-history-table'}));
    } catch (e) { if (e.status !== 401) clear(panel, h('p', {class: 'error', text: e.message})); }
  }

  function renderMembers(panel) {
    if (members === null) {
      clear(panel, h('p', {class: 'empty-state', text: 'This token may not read the members.'}));
      return;
    }
    const sorted = [...members].sort();
    clear(panel,
      h('div', {class: 'toolbar'}, methods.add ? h('button', {class: 'primary', id: 'add-members',
        text: 'Add Members', onclick: () => addMembersDialog(ctx, policy, members, async () => {
          await load();
          document.getElementById('tab-members')?.click();
        })}) : null),
      sorted.length === 0
        ? h('p', {class: 'empty-state', id: 'members-empty', text: 'This policy has no members.'})
        : table(['Member', 'Type', ''], sorted.map((m) => h('tr', {'data-member': m},
            h('td', {class: 'mono'}, m.startsWith('token:') && m !== 'token:*'
              ? h('a', {href: `/settings/tokens/${enc(m.slice(6))}`, text: m}) : m),
            h('td', {text: memberKind(m)}),
            h('td', {}, methods.remove ? h('button', {class: 'secondary small', text: 'Remove Member',
              'data-remove-member': m, onclick: async () => {
                const ok = await confirmDialog({title: 'Remove Member', id: 'remove-member-dialog',
                  confirmLabel: 'Remove Member', message: `Remove ${m} from policy "${policy.name}"?`});
                if (!ok) return;
                try {
                  await api('POST', `/policies/${enc(policy.id)}/members:remove`, {members: [m]});
                  notify(`Removed ${m} from policy "${policy.name}".`);
                  await load();
                  document.getElementById('tab-members')?.click();
                } catch (e) { if (e.status !== 401) notify(e.message, 'error'); }
              }}) : null))), {id: 'members-table'}));
  }

  load();
}

// The member-expression builder: existing tokens to tick, and expressions
// built from a kind, a provider and a name (or "*").
async function addMembersDialog(ctx, policy, current, onDone) {
  let tokens = [];
  if (ctx.perms['/tokens'].get) {
    try { tokens = naturalSort((await api('GET', '/tokens', undefined, {noFilter: true})).tokens || [], 'name'); }
    catch (e) { if (e.status === 401) return; }
  }
  const pending = new Set();
  const have = new Set(current);
  const tokenChecks = tokens.filter((t) => !have.has(`token:${t.id}`)).map((t) =>
    h('label', {class: 'check-row'},
      h('input', {type: 'checkbox', 'data-member': `token:${t.id}`, onchange: (e) => {
        if (e.target.checked) pending.add(`token:${t.id}`); else pending.delete(`token:${t.id}`);
        sync();
      }}),
      h('span', {text: `${t.name} `}), h('span', {class: 'mono muted', text: `token:${t.id}`})));

  const kind = h('select', {id: 'member-kind', 'aria-label': 'Member type'},
    [['token', 'API token'], ['user', 'User'], ['team', 'Team'], ['tls', 'Service certificate'],
     ['everyone', 'Everyone (*)']].map(([v, l]) => h('option', {value: v, text: l})));
  const provider = h('select', {id: 'member-provider', 'aria-label': 'Identity provider'},
    ['local', 'ldap', 'saml'].map((v) => h('option', {value: v, text: v.toUpperCase()})));
  const name = h('input', {type: 'text', id: 'member-name', placeholder: 'name, or * for all',
                           'aria-label': 'Member name', autocomplete: 'off'});
  const preview = h('span', {class: 'mono', id: 'member-preview'});
  const exprError = h('p', {class: 'field-error', id: 'member-error', hidden: true});
  const chips = h('ul', {class: 'chips', id: 'member-pending'});
  const submit = h('button', {class: 'primary', id: 'add-members-submit', type: 'button', text: 'Add Members'});
  const error = h('p', {class: 'error', role: 'alert', hidden: true, id: 'add-members-error'});

  const expression = () => {
    const n = name.value.trim();
    switch (kind.value) {
      case 'everyone': return '*';
      case 'token': return `token:${n}`;
      case 'tls': return `tls:service:${n}`;
      default: return `${kind.value}:${provider.value}:${n}`;
    }
  };
  const syncBuilder = () => {
    provider.hidden = !(kind.value === 'user' || kind.value === 'team');
    name.hidden = kind.value === 'everyone';
    preview.textContent = expression();
    exprError.hidden = true;
  };
  function sync() {
    clear(chips, [...pending].map((m) => h('li', {class: 'chip', text: m})));
    submit.disabled = pending.size === 0;
  }
  kind.addEventListener('change', syncBuilder);
  provider.addEventListener('change', syncBuilder);
  name.addEventListener('input', syncBuilder);
  const addExpr = h('button', {class: 'secondary', type: 'button', id: 'member-add-expression',
    text: 'Add Expression', onclick: () => {
      const e = expression();
      if (!MEMBER_RE.test(e)) {
        exprError.hidden = false;
        exprError.textContent = `"${e}" is not a valid member expression.`;
        return;
      }
      if (have.has(e)) {
        exprError.hidden = false;
        exprError.textContent = `${e} is already a member.`;
        return;
      }
      pending.add(e);
      name.value = '';
      syncBuilder();
      sync();
    }});
  submit.addEventListener('click', async () => {
    submit.disabled = true;
    try {
      await api('POST', `/policies/${enc(policy.id)}/members:add`, {members: [...pending]});
      dialog.close();
      notify(`Added ${pending.size} member${pending.size === 1 ? '' : 's'} to policy "${policy.name}".`);
      onDone();
    } catch (e) {
      if (e.status === 401) return;
      error.hidden = false;
      error.textContent = e.message;
      submit.disabled = false;
    }
  });
  const dialog = openDialog({title: `Add Members to ${policy.name}`, id: 'add-members-dialog', body: [
    h('h3', {text: 'API tokens'}),
    tokenChecks.length ? h('div', {class: 'check-list', id: 'member-tokens'}, tokenChecks)
                       : h('p', {class: 'muted', text: 'Every token you can see is already a member.'}),
    h('h3', {text: 'Member expression'}),
    h('div', {class: 'builder'}, kind, provider, name, addExpr),
    h('p', {class: 'detail'}, 'Expression: ', preview),
    exprError,
    h('h3', {text: 'To add'}), chips, error,
    h('div', {class: 'button-bar'}, submit,
      h('button', {class: 'secondary', type: 'button', text: 'Cancel', onclick: () => dialog.close()})),
  ]});
  syncBuilder();
  sync();
}
