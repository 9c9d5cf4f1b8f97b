// Small DOM helpers shared by every screen: element building, dialogs,
// menus, multi-selects, notifications, sorting and dates. No inline styles
// or scripts anywhere (the page runs under a strict CSP): state is shown
// with classes and the `hidden` attribute.

// h('button', {class: 'primary', onclick: f, id: 'x'}, 'Text', child, ...)
// Props starting with "on" become listeners; `text` sets textContent;
// other props become attributes (false/null/undefined are left out).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked') {
      el.checked = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Natural order ("tok 2" before "tok 10"), case-insensitive.
const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'});
export function naturalSort(items, key) {
  return [...items].sort((a, b) => collator.compare(a[key] ?? '', b[key] ?? '') ||
                                   collator.compare(a.id ?? '', b.id ?? ''));
}

// RFC 2822 style in UTC, as Automate shows dates: "Tue, 01 Dec 2026 21:48:15 UTC".
export function formatDate(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toUTCString().replace('GMT', 'UTC');
}

// ---- notifications: a live region at the top of the page.
export function notify(message, kind = 'info') {
  const region = document.getElementById('notifications');
  if (!region) return;
  const item = h('div', {class: `notification ${kind}`, role: kind === 'error' ? 'alert' : 'status'},
                 h('span', {class: 'notification-text', text: message}),
                 h('button', {class: 'link', 'aria-label': 'Dismiss', text: '×',
                              onclick: () => item.remove()}));
  region.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 15000 : 8000);
}

// ---- dialogs (<dialog> with showModal). `body` is a node or list of nodes.
export function openDialog({title, body, id, onClose}) {
  const dialog = h('dialog', {class: 'modal', id, 'aria-labelledby': `${id}-title`},
                   h('h2', {id: `${id}-title`, text: title}), body);
  dialog.addEventListener('close', () => { dialog.remove(); if (onClose) onClose(); });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

// Resolves true when the person confirms, false on Cancel or Escape.
export function confirmDialog({title, message, confirmLabel, id = 'confirm-dialog'}) {
  return new Promise((resolve) => {
    let result = false;
    const dialog = openDialog({
      title, id,
      body: [h('p', {class: 'dialog-message', text: message}),
             h('div', {class: 'button-bar'},
               h('button', {class: 'danger', id: `${id}-confirm`, text: confirmLabel,
                            onclick: () => { result = true; dialog.close(); }}),
               h('button', {class: 'secondary', id: `${id}-cancel`, text: 'Cancel',
                            onclick: () => dialog.close()}))],
      onClose: () => resolve(result),
    });
  });
}

// ---- the menu at the end of a table row: a <details> whose items are
// buttons. `onOpen(items)` may disable items (permissions) when it opens.
export function rowMenu({label, items, onOpen}) {
  const buttons = items.map((it) => h('button', {
    class: 'menu-item', role: 'menuitem', text: it.label, disabled: it.disabled,
    onclick: (e) => { e.preventDefault(); menu.open = false; it.onSelect(); },
  }));
  const menu = h('details', {class: 'menu'},
                 h('summary', {'aria-label': label, title: label, text: '⋮'}),
                 h('div', {class: 'menu-panel', role: 'menu'}, buttons));
  menu.addEventListener('toggle', () => {
    if (menu.open) {
      for (const other of document.querySelectorAll('details.menu[open], details.multiselect[open]')) {
        if (other !== menu) other.open = false;
      }
      if (onOpen) onOpen(buttons);
    }
  });
  return menu;
}

// Closes open menus and multi-selects on a click elsewhere.
document.addEventListener('click', (e) => {
  for (const d of document.querySelectorAll('details.menu[open], details.multiselect[open]')) {
    if (!d.contains(e.target)) d.open = false;
  }
});

// ---- a multi-select dropdown of checkboxes. items: [{value, label}].
// Returns the element; el.values() gives the checked values in item order.
export function multiSelect({id, label, items, selected = [], onChange, disabled = false,
                             noneLabel = 'None', emptyText = 'Nothing to choose from.'}) {
  const chosen = new Set(selected);
  const summary = h('summary', {class: 'multiselect-summary', id: `${id}-summary`});
  const sync = () => {
    const names = items.filter((it) => chosen.has(it.value)).map((it) => it.label);
    summary.textContent = `${label}: ${names.length === 0 ? noneLabel
                           : names.length <= 2 ? names.join(', ') : `${names.length} selected`}`;
  };
  const options = items.map((it) => h('label', {class: 'multiselect-option'},
    h('input', {type: 'checkbox', value: it.value, checked: chosen.has(it.value),
                'data-value': it.value,
                onchange: (e) => {
                  if (e.target.checked) chosen.add(it.value); else chosen.delete(it.value);
                  sync();
                  if (onChange) onChange(el.values());
                }}),
    h('span', {text: it.label})));
  const el = h('details', {class: 'multiselect', id, 'aria-disabled': disabled ? 'true' : null},
               summary,
               h('div', {class: 'multiselect-panel'},
                 options.length ? options : h('p', {class: 'muted', text: emptyText})));
  if (disabled) el.addEventListener('toggle', () => { el.open = false; });
  el.values = () => items.filter((it) => chosen.has(it.value)).map((it) => it.value);
  sync();
  return el;
}

// Tabs: [{id, label, render(panel)}]; the first one is shown.
export function tabs(list, initial) {
  const panel = h('div', {class: 'tab-panel', role: 'tabpanel'});
  const buttons = list.map((t) => h('button', {
    class: 'tab', role: 'tab', id: `tab-${t.id}`, text: t.label,
    onclick: () => show(t.id),
  }));
  const show = (id) => {
    list.forEach((t, i) => buttons[i].setAttribute('aria-selected', String(t.id === id)));
    clear(panel);
    list.find((t) => t.id === id).render(panel);
  };
  const el = h('div', {class: 'tabs'}, h('div', {class: 'tab-bar', role: 'tablist'}, buttons), panel);
  show(initial && list.some((t) => t.id === initial) ? initial : list[0].id);
  el.show = show;
  return el;
}

export async function copyText(text) {
  await navigator.clipboard.writeText(text);
}

export function table(headers, rows, {id, className = 'data-table'} = {}) {
  return h('table', {class: className, id},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {text: x})))),
    h('tbody', {}, rows));
}
