// Events as people read them: one line per change (history and activity).
import {formatDate, h, table} from './dom.js';

const LABELS = {
  TokenCreated: 'Created', TokenRenamed: 'Renamed', TokenDeleted: 'Deleted',
  TokenActivated: 'Activated', TokenDeactivated: 'Deactivated',
  PolicyCreated: 'Created', PolicyDeleted: 'Deleted', PolicyUpdated: 'Updated',
};

// "Renamed to "CI robot"", "Members added: token:x", or the type and data.
export function describeEvent(e) {
  const d = e.data || {};
  const parts = [];
  switch (e.type) {
    case 'TokenCreated':
      parts.push(`Created "${d.name}", ${d.active === false ? 'inactive' : 'active'}`);
      if (d.projects && d.projects.length) parts.push(`projects ${d.projects.join(', ')}`);
      return parts.join('; ');
    case 'TokenRenamed':
      return `Renamed to "${d.name}"`;
    case 'PolicyMembersAdded':
      return `Added members: ${(d.members || []).join(', ')}`;
    case 'PolicyMembersRemoved':
      return `Removed members: ${(d.members || []).join(', ')}`;
    case 'PolicyCreated':
    case 'PolicyUpdated': {
      const n = (d.statements || []).length;
      parts.push(`${e.type === 'PolicyCreated' ? 'Created' : 'Updated'} "${d.name}"`);
      parts.push(`${n} statement${n === 1 ? '' : 's'}`);
      if ((d.members || []).length) parts.push(`members ${d.members.join(', ')}`);
      return parts.join('; ');
    }
    default: {
      const rest = Object.entries(d).filter(([k]) => k !== 'id')
        .map(([k, v]) => `${k}: ${Array.isArray(v)
          ? (v.every((x) => typeof x !== 'object') ? (v.join(', ') || 'none') : `${v.length} item(s)`)
          : typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`);
      return [LABELS[e.type] || e.type, ...rest].join('; ');
    }
  }
}

export function historyTable(events, {id}) {
  if (!events.length) return h('p', {class: 'empty-state', text: 'No changes recorded.'});
  return table(['When', 'Who', 'What', 'Change', 'From'], [...events].reverse().map((e) =>
    h('tr', {'data-seq': e.seq},
      h('td', {class: 'when', text: formatDate(e.recorded_at), title: e.recorded_at}),
      h('td', {class: 'mono actor', text: e.actor}),
      h('td', {class: 'mono type', text: e.type}),
      h('td', {class: 'what', text: describeEvent(e)}),
      h('td', {class: 'mono', text: e.source || '—'}))), {id});
}
