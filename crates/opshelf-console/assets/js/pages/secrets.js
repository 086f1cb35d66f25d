// Secrets: seal status and unsealing, then (signed in to Vault with a token, as in Vault's
// own UI) mounts, auth methods, policies, audit devices with their health, token counts.
// Never a secret value. Audit health comes from the platform status (Vault has no API for
// it), the token count from Vault's sys/internal/counters/tokens.
import { html, useState, useData, Async, Badge, Section, Field, ErrorBox, useAction } from '../ui.js';
import { api, vaultApi, vaultToken, setVaultToken } from '../api.js';

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

// Health of each audit device by path, from the platform status.
function healthByPath(status) {
  const list = (status && status.facts && status.facts.audit) || [];
  return Object.fromEntries(list.map((h) => [h.path, h]));
}

function AuditHealth({ h }) {
  if (!h) return html`<span class="muted">not reported</span>`;
  if (h.healthy) return html`<${Badge} kind="ok">writing<//> <small>${h.entries_written} entries${h.write_failures ? `, ${h.write_failures} failed earlier` : ''}</small>`;
  return html`<${Badge} kind="bad">failing<//> <small>${h.write_failures} failed writes; last ${h.last_error_time}: ${h.last_error}</small>`;
}

function Details({ status }) {
  const state = useData(async () => {
    const [mounts, auth, policies, audit, counters] = await Promise.all([
      vaultApi('mounts'), vaultApi('auth'), vaultApi('policies/acl?list=true').catch(() => vaultApi('policy')), vaultApi('audit'),
      vaultApi('internal/counters/tokens').catch((e) => ({ error: e })),
    ]);
    return {
      mounts: entries(mounts), auth: entries(auth), audit: entries(audit), counters,
      policies: (policies.data && (policies.data.keys || policies.data.policies)) || policies.keys || policies.policies || [],
    };
  }, [vaultToken()]);
  const health = healthByPath(status);
  return html`<${Async} state=${state}>${(d) => html`
    <${Section} title="Tokens">
      ${d.counters.error ? html`<p class="state error" role="alert">Token count unavailable: ${d.counters.error.message}</p>`
        : html`<p><strong class="big" id="token-count">${d.counters.data.counters.service_tokens.total}</strong> ${d.counters.data.counters.service_tokens.total === 1 ? 'token' : 'tokens'} in the token store${' '}
          <small>(Vault's sys/internal/counters/tokens: every stored service token, root tokens included)</small></p>`}
    <//>
    <${Section} title="Secrets engines"><${Table} rows=${d.mounts} cols=${[['Path', (r) => r.path], ['Type', (r) => r.type], ['Version', (r) => (r.options && r.options.version) || '—'], ['Description', (r) => r.description || '']]} /><//>
    <${Section} title="Auth methods"><${Table} rows=${d.auth} cols=${[['Path', (r) => r.path], ['Type', (r) => r.type], ['Accessor', (r) => html`<code>${r.accessor || ''}</code>`]]} /><//>
    <${Section} title="Policies">${d.policies.length ? html`<ul>${d.policies.map((p) => html`<li><code>${p}</code></li>`)}</ul>` : html`<p class="state empty">No policies.</p>`}<//>
    <${Section} title="Audit devices">
      ${d.audit.length ? '' : html`<p class="muted">Without an audit device Vault keeps no record of who read what: enable one with <code>vault audit enable file file_path=...</code>.</p>`}
      <${Table} rows=${d.audit} cols=${[['Path', (r) => r.path], ['Type', (r) => r.type], ['File', (r) => (r.options && (r.options.file_path || r.options.path)) || '—'], ['Health', (r) => html`<${AuditHealth} h=${health[r.path]} />`]]} />
    <//>`}<//>`;
}

// Without a Vault token: what the platform status says, counts only.
function AuditSummary({ status }) {
  const f = status && status.facts;
  if (!f || f.audit_devices === undefined) return null;
  return html`<p id="audit-summary">Audit devices: <strong>${f.audit_devices}</strong>
    ${f.audit_devices_failing ? html`<${Badge} kind="bad">${f.audit_devices_failing} failing<//>` : f.audit_devices ? html`<${Badge} kind="ok">all writing<//>` : html`<${Badge} kind="warn">none enabled<//>`}</p>`;
}

function Secrets({ session }) {
  const [, setTick] = useState(0);
  const status = useData(() => vaultApi('seal-status'), [], 3000);
  const platform = useData(() => api('/console/api/status/secrets').catch(() => null), [], 5000);
  const canChange = session.role === 'admin';
  const token = vaultToken();
  return html`<h1>Secrets</h1>
    <${Async} state=${status}>${(s) => html`
      <${Section} title="Seal status">
        <p>${!s.initialized ? html`<${Badge} kind="warn">not initialised<//> Initialise with <code>vault operator init</code>.`
          : s.sealed ? html`<${Badge} kind="bad">sealed<//>` : html`<${Badge} kind="ok">unsealed<//>`}
          · ${s.t} of ${s.n} key shares needed · version ${s.version || '—'}${s.storage_type ? ` · storage ${s.storage_type}` : ''}</p>
        ${!s.sealed && html`<${AuditSummary} status=${platform.data} />`}
        ${s.initialized && s.sealed && html`<${Unseal} status=${s} onDone=${status.reload} canChange=${canChange} />`}
      <//>
      ${!s.sealed && html`<${Section} title="Vault sign-in">
        ${token ? html`<p>Signed in to Vault with a token. <button type="button" class="secondary" onClick=${() => { setVaultToken(''); setTick((t) => t + 1); }}>Forget the Vault token</button></p>`
          : html`<p class="muted">Mounts, auth methods, policies and audit devices need a Vault token, as in Vault's own UI. No secret value is shown here.</p><${TokenForm} onChange=${() => setTick((t) => t + 1)} />`}
      <//>`}
      ${!s.sealed && token && html`<${Details} status=${platform.data} />`}`}<//>`;
}

export default { id: 'secrets', title: 'Secrets', component: Secrets };
