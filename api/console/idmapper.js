// The ID Automate's UI derives from a name (helpers/auth/id-mapper.ts):
// the trimmed name, lowercased, every character outside [a-z0-9_] -> '-'.
export function idFromName(name) {
  return name.trim().toLowerCase().replace(/[^a-z0-9_]/g, '-');
}

// Automate's create form validators, with its messages (first one wins).
export const ID_PATTERN = /^[a-z0-9-_]+$/;
export function idErrors(id) {
  const out = [];
  if (id.length > 64) out.push('ID must be 64 characters or less.');
  if (id.length === 0) out.push('ID is required.');
  else if (!ID_PATTERN.test(id)) out.push('Only lowercase letters, numbers, hyphens, and underscores are allowed.');
  return out;
}
export function nameErrors(name) {
  return name.trim() === '' ? ['Name is required.'] : [];
}
