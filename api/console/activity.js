// Activity (/settings/activity): the change feed, tailed live with
// GET /apis/iam/v2/events?after=SEQ&wait=30, filterable by object and actor.
import {api} from './api.js';
import {clear, formatDate, h, table} from './dom.js';
import {describeEvent} from './history.js';

const KEEP = 500;  // newest events kept on screen

function objectLink(stream) {
  const [kind, ...rest] = (stream || '').split('/');
  const id = rest.join('/');
  if (kind === 'token') return h('a', {href: `/settings/tokens/${encodeURIComponent(id)}`, text: stream});
  if (kind === 'policy') return h('a', {href: `/settings/policies/${encodeURIComponent(id)}`, text: stream});
  return stream || '';
}

export function page(main, ctx) {
  document.title = 'Activity · iamledger';
  const abort = new AbortController();
  let events = [];
  let after = 0;
  const object = h('input', {type: 'search', id: 'activity-object', class: 'filter',
                             placeholder: 'Object, e.g. token/ci-bot', 'aria-label': 'Filter by object'});
  const actor = h('input', {type: 'search', id: 'activity-actor', class: 'filter',
                            placeholder: 'Actor, e.g. token:admin', 'aria-label': 'Filter by actor',
                            list: 'activity-actors'});
  const actors = h('datalist', {id: 'activity-actors'});
  const state = h('p', {class: 'muted', id: 'activity-state', role: 'status', text: 'Loading…'});
  const body = h('div', {class: 'page-body', id: 'activity-body'});
  clear(main,
    h('header', {class: 'page-header'}, h('h1', {text: 'Activity'}),
      h('p', {class: 'subheading', text: 'Every change, as it is recorded. New changes appear here as they happen.'})),
    h('div', {class: 'toolbar'}, object, actor, actors, state), body);
  if (!ctx.perms['/events'].get) {
    clear(body, h('p', {class: 'empty-state', text: 'This token may not read the change feed (iam:events:list).'}));
    state.textContent = '';
    return () => abort.abort();
  }

  function render() {
    const o = object.value.trim().toLowerCase();
    const a = actor.value.trim().toLowerCase();
    const shown = events.filter((e) => (!o || (e.stream || '').toLowerCase().includes(o)) &&
                                       (!a || (e.actor || '').toLowerCase().includes(a)));
    clear(actors, [...new Set(events.map((e) => e.actor))].sort().map((x) => h('option', {value: x})));
    if (shown.length === 0) {
      clear(body, h('p', {class: 'empty-state', id: 'activity-empty', text: 'No events match.'}));
      return;
    }
    clear(body, table(['Seq', 'When', 'Event', 'Object', 'Actor', 'Change', 'From'],
      shown.slice().reverse().map((e) => h('tr', {'data-seq': e.seq},
        h('td', {class: 'mono', text: e.seq}),
        h('td', {class: 'when', text: formatDate(e.recorded_at), title: e.recorded_at}),
        h('td', {class: 'mono type', text: e.type}),
        h('td', {class: 'mono object'}, objectLink(e.stream)),
        h('td', {class: 'mono actor', text: e.actor}),
        h('td', {class: 'what', text: describeEvent(e)}),
        h('td', {class: 'mono', text: e.source || '—'}))), {id: 'activity-table'}));
  }
  object.addEventListener('input', render);
  actor.addEventListener('input', render);

  async function tail() {
    let caughtUp = false;
    while (!abort.signal.aborted) {
      try {
        const wait = caughtUp ? '&wait=30' : '';
        const r = await api('GET', `/events?after=${after}&limit=1000${wait}`, undefined,
                            {signal: abort.signal, noFilter: true});
        const got = r.events || [];
        if (got.length) {
          events = events.concat(got).slice(-KEEP);
          after = r.next ?? got[got.length - 1].seq;
        }
        if (got.length < 1000) caughtUp = true;
        state.textContent = caughtUp ? `Live · up to seq ${after}` : `Loading… seq ${after}`;
        if (got.length || !body.firstChild) render();
      } catch (e) {
        if (abort.signal.aborted || e.status === 401) return;
        state.textContent = `Feed interrupted (${e.message}); retrying…`;
        await new Promise((res) => setTimeout(res, 3000));
      }
    }
  }
  tail();
  return () => abort.abort();
}
