// The console's only way to the server: the public /apis/iam/v2 API with
// the token the person signed in with. The token lives in sessionStorage
// (this tab only; never a cookie, localStorage or URL). The project filter
// is sent as the `projects` header on every call.

const TOKEN_KEY = 'iamledger.token';
const PROJECTS_KEY = 'iamledger.projects';
const BASE = '/apis/iam/v2';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ''; },
  signIn(token) { sessionStorage.setItem(TOKEN_KEY, token); },
  signOut() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(PROJECTS_KEY); },
  get projects() {
    try { return JSON.parse(sessionStorage.getItem(PROJECTS_KEY) || '[]'); } catch { return []; }
  },
  set projects(list) { sessionStorage.setItem(PROJECTS_KEY, JSON.stringify(list)); },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};
// `fn(message)` runs when any call answers 401.
export function onUnauthorized(fn) { unauthorized = fn; }

// Calls METHOD BASE+path. Resolves to the decoded JSON, or with `full`
// to {data, etag}. Rejects with ApiError carrying the server's message.
export async function api(method, path, body, {signal, full = false, ifMatch, noFilter = false} = {}) {
  const headers = {'api-token': session.token, 'Accept': 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const projects = session.projects;
  if (projects.length && !noFilter) headers['projects'] = projects.join(',');
  if (ifMatch) headers['If-Match'] = ifMatch;
  let res;
  try {
    res = await fetch(BASE + path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit', redirect: 'error',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `The server could not be reached (${e.message}).`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch { data = null; }
  const message = (data && typeof data.message === 'string' && data.message) ||
                  text.trim() || res.statusText;
  if (res.status === 401) {
    unauthorized(message);
    throw new ApiError(401, message);
  }
  if (!res.ok) throw new ApiError(res.status, message);
  return full ? {data, etag: res.headers.get('ETag')} : data;
}

// Method flags ({get, put, post, delete}) of literal paths (POST /introspect_some).
export async function introspectSome(paths) {
  const r = await api('POST', '/introspect_some', {paths: paths.map((p) => BASE + p)}, {noFilter: true});
  const out = {};
  for (const p of paths) out[p] = r.endpoints?.[BASE + p] || {};
  return out;
}

// Method flags of one concrete path, e.g. "/tokens/ci-bot" (POST /introspect).
export async function introspect(path) {
  try {
    const r = await api('POST', '/introspect', {path: BASE + path}, {noFilter: true});
    return r.endpoints?.[BASE + path] || {};
  } catch (e) {
    if (e.status === 401) throw e;
    return {};
  }
}

export const enc = encodeURIComponent;
