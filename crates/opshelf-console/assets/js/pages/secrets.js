// Secrets: seal status and unsealing, then (signed in to Vault with a token, as in Vault's
// own UI) mounts, auth methods, policies, audit devices. Never a secret value.
import { html, useState, useData, Async, Badge, Section, Field, ErrorBox, useAction } from '../ui.js';
import { vaultApi, vaultToken, setVaultToken } from '../api.js';

function Unseal({ status, onDone, canChange }) {
  const [key, setKey] = useState('');
  const act = useAction();
  if (!canChange) return html`<p class="muted">An admin can unseal from here.</p>`;
  const submit = (e) => {
    e.preventDefault();
    act.run(async () => { await vaultApi('unseal', { method: 'POST', body: { key } }); setKey(''); onDone(); });
  };
  const reset = () => act.run(async () => { await vaultApi('unseal', { method: 'POST', body: { reset: true } }); onDone(); });
  return html`<form onSubmit=${submit} aria-label="Unseal">
    <p>Unseal progress: <strong>${status.progress} of ${status.t}</strong> key shares.</p>
    <${Field} label="Unseal key share" id="unseal-key"><input id="unseal-key" type="password" autocomplete="off" value=${key} onInput=${(e) => setKey(e.target.value)} required /><//>
    <div class="row"><button type="submit" disabled=${act.busy}>Submit key share</button>
      ${status.progress > 0 && html`<button type="button" class="secondary" onClick=${reset}>Start over</button>`}</div>
    <${ErrorBox} error=${act.error} />
  </form>`;
}

function TokenForm({ onChange }) {
  const [t, setT] = useState('');
  const submit = (e) => { e.preventDefault(); setVaultToken(t); setT(''); onChange(); };
  return html`<form class="inline" onSubmit=${submit} aria-label="Sign in to Vault">
    <${Field} label="Vault token" id="vault-token" hint="Kept in this tab only (sessionStorage), sent with each request to Vault's sys/ API."><input id="vault-token" type="password" autocomplete="off" value=${t} onInput=${(e) => setT(e.target.value)} required aria-describedby="vault-token-hint" /><//>
    <button type="submit">Sign in to Vault</button></form>`;
}

function Table({ rows, cols }) {
  if (!rows.length) return html`<p class="state empty">None.</p>`;
  return html`<div class="table-wrap" tabindex="0"><table><thead><tr>${cols.map((c) => html`<th scope="col">${c[0]}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${cols.map((c, i) => (i === 0 ? html`<th scope="row">${c[1](r)}</th>` : html`<td>${c[1](r)}</td>`))}</tr>`)}</tbody></table></div>`;
}

function entries(obj) {
  const data = obj && obj.data ? obj.data : obj || {};
  return Object.entries(data).filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v) && 'type' in v).map(([path, v]) => ({ path, ...v }));
}

function Details() {
  const state = useData(async () => {
    const [mounts, auth, policies, audit] = await Promise.all([
      vaultApi('mounts'), vaultApi('auth'), vaultApi('policies/acl?list=true').catch(() => vaultApi('policy')), vaultApi('audit'),
    ]);
    return { mounts: entries(mounts), auth: entries(auth), policies: (policies.data && (policies.data.keys || policies.data.policies)) || policies.keys || policies.policies || [], audit: entries(audit) };
  }, [vaultToken()]);
  return html`<${Async} state=${state}>${(d) => html`
    <${Section} title="Secrets engines"><${Table} rows=${d.mounts} cols=${[['Path', (r) => r.path], ['Type', (r) => r.type], ['Version', (r) => (r.options && r.options.version) || '—'], ['Description', (r) => r.description || '']]} /><//>
    <${Section} title="Auth methods"><${Table} rows=${d.auth} cols=${[['Path', (r) => r.path], ['Type', (r) => r.type], ['Accessor', (r) => html`<code>${r.accessor || ''}</code>`]]} /><//>
    <${Section} title="Policies">${d.policies.length ? html`<ul>${d.policies.map((p) => html`<li><code>${p}</code></li>`)}</ul>` : html`<p class="state empty">No policies.</p>`}<//>
    <${Section} title="Audit devices"><${Table} rows=${d.audit} cols=${[['Path', (r) => r.path], ['Type', (r) => r.type], ['File', (r) => (r.options && (r.options.file_path || r.options.path)) || '—']]} /><//>`}<//>`;
}

function Secrets({ session }) {
  const [, setTick] = useState(0);
  const status = useData(() => vaultApi('seal-status'), [], 3000);
  const canChange = session.role === 'admin';
  const token = vaultToken();
  return html`<h1>Secrets</h1>
    <${Async} state=${status}>${(s) => html`
      <${Section} title="Seal status">
        <p>${!s.initialized ? html`<${Badge} kind="warn">not initialised<//> Initialise with <code>vault operator init</code>.`
          : s.sealed ? html`<${Badge} kind="bad">sealed<//>` : html`<${Badge} kind="ok">unsealed<//>`}
          · ${s.t} of ${s.n} key shares needed · version ${s.version || '—'}${s.storage_type ? ` · storage ${s.storage_type}` : ''}</p>
        ${s.initialized && s.sealed && html`<${Unseal} status=${s} onDone=${status.reload} canChange=${canChange} />`}
      <//>
      ${!s.sealed && html`<${Section} title="Vault sign-in">
        ${token ? html`<p>Signed in to Vault with a token. <button type="button" class="secondary" onClick=${() => { setVaultToken(''); setTick((t) => t + 1); }}>Forget the Vault token</button></p>`
          : html`<p class="muted">Mounts, auth methods, policies and audit devices need a Vault token, as in Vault's own UI. No secret value is shown here.</p><${TokenForm} onChange=${() => setTick((t) => t + 1)} />`}
      <//>`}
      ${!s.sealed && token && html`<${Details} />`}`}<//>`;
}

export default { id: 'secrets', title: 'Secrets', component: Secrets };
