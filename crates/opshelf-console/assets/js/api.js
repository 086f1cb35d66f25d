// Every request the console makes: same origin, JSON, the CSRF token on every change.
let csrf = null;
let onSignedOut = () => {};

export function setCsrf(token) { csrf = token; }
export function onUnauthenticated(fn) { onSignedOut = fn; }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function messageOf(data, status, statusText) {
  if (data && typeof data === 'object') {
    if (data.error && data.error.message) return data.error.message;
    if (data.message) return data.message;
    if (Array.isArray(data.errors)) return data.errors.join('; ');
    if (Array.isArray(data.details)) return data.details.map((d) => d.message || JSON.stringify(d)).join('; ');
  }
  if (typeof data === 'string' && data) return data.slice(0, 300);
  return `${status} ${statusText}`;
}

export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  let payload = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Blob)) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) h['X-CSRF-Token'] = csrf;
  let r;
  try {
    r = await fetch(path, { method, headers: h, body: payload, credentials: 'same-origin', signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'opshelf does not answer (is it running?)');
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401 && path.startsWith('/console/api/') && !path.startsWith('/console/api/proxy/')) {
    onSignedOut();
  }
  if (!r.ok) throw new ApiError(r.status, messageOf(data, r.status, r.statusText));
  return data;
}

// The Unleash admin API, through the console (it adds the admin token).
export const flagsApi = (path, opts) => api(`/console/api/proxy/flags/${path}`, opts);

// Vault's sys/* API, through the console, with the operator's own token when signed in.
export function vaultToken() { return sessionStorage.getItem('opshelf-vault-token') || ''; }
export function setVaultToken(t) {
  if (t) sessionStorage.setItem('opshelf-vault-token', t); else sessionStorage.removeItem('opshelf-vault-token');
}
export function vaultApi(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  const t = vaultToken();
  if (t) headers['X-Vault-Token'] = t;
  return api(`/console/api/proxy/secrets/${path}`, { ...opts, headers });
}
