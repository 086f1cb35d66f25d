// WAF: requests and blocks over time, top rules and clients, recent blocked requests with
// their audit entry, rate limiting, rule-set status.
import { html, useData, Async, Badge, Section, stateKind, fmtNum } from '../ui.js';
import { api } from '../api.js';
import { Chart } from '../chart.js';

function Blocked({ e }) {
  return html`<details class="blocked" data-unique-id=${e.id}>
    <summary><code>${e.method} ${e.uri}</code> from ${e.client_ip} · ${e.status}${e.anomaly_score !== null ? ` · anomaly score ${e.anomaly_score}` : ''} <small>${e.time}</small></summary>
    <div class="table-wrap" tabindex="0"><table>
      <thead><tr><th scope="col">Rule</th><th scope="col">Message</th><th scope="col">What matched</th></tr></thead>
      <tbody>${e.rules.map((r) => html`<tr><th scope="row">${r.id}</th><td>${r.message}</td><td><code>${r.match || r.data}</code></td></tr>`)}</tbody>
    </table></div>
  </details>`;
}

function Waf() {
  const state = useData(() => api('/console/api/waf'), [], 1000);
  return html`<h1>WAF</h1>
    <${Async} state=${state}>${(d) => {
      const s = d.status;
      if (!s || s.state === 'disabled') {
        return html`<p class="state empty">The WAF is not running. ${s ? s.summary : 'This build has no WAF.'}</p>`;
      }
      const times = d.series.map((x) => x[0]);
      const a = d.audit;
      return html`
      <${Section} title="Rule set">
        <p><${Badge} kind=${stateKind(s.state)}>${s.state}<//> ${s.summary}</p>
        <p>Mode <strong>${s.facts.mode}</strong> · ${s.facts.rules_loaded} rules · upstream <code>${s.facts.upstream}</code></p>
        <p>Last reload: ${s.facts.last_reload_error ? html`<${Badge} kind="bad">failed<//> ${s.facts.last_reload_error}` : html`<${Badge} kind="ok">ok<//> (the rules in use loaded cleanly)`}</p>
        <p>Requests ${s.facts.requests} · blocked ${s.facts.blocked} · refused by the rate limit ${fmtNum(d.rate_limited_total, 0)}
          <small>(per-address rate-limit counts are not exposed by the WAF yet)</small></p>
      <//>
      <${Section} title="Requests and blocks">
        <${Chart} title="Requests and blocked requests (cumulative)" times=${times}
          series=${[{ label: 'requests', values: d.series.map((x) => x[1]) }, { label: 'blocked', values: d.series.map((x) => x[2]) }]} />
      <//>
      ${!d.audit_log ? html`<p class="state empty">Set [waf] audit_log and point [console] waf_audit_log at the same file to see blocked requests here.</p>`
        : a && a.error ? html`<p class="state error" role="alert">The audit log cannot be read: ${a.error}</p>`
        : html`
      <div class="grid">
        <${Section} title="Top rules">${a.top_rules.length ? html`<div class="table-wrap" tabindex="0"><table><thead><tr><th scope="col">Rule</th><th scope="col">Message</th><th scope="col" class="num">Hits</th></tr></thead>
          <tbody>${a.top_rules.map(([id, m, n]) => html`<tr><th scope="row">${id}</th><td>${m}</td><td class="num">${n}</td></tr>`)}</tbody></table></div>` : html`<p class="state empty">No rule has matched yet.</p>`}<//>
        <${Section} title="Top client addresses">${a.top_clients.length ? html`<div class="table-wrap" tabindex="0"><table><thead><tr><th scope="col">Address</th><th scope="col" class="num">Flagged</th></tr></thead>
          <tbody>${a.top_clients.map(([ip, n]) => html`<tr><th scope="row">${ip}</th><td class="num">${n}</td></tr>`)}</tbody></table></div>` : html`<p class="state empty">No client flagged yet.</p>`}<//>
      </div>
      <${Section} title="Recent blocked requests">
        <p class="muted">${a.entries} audit entries read: ${a.blocked} blocked, ${a.flagged} flagged and let through.</p>
        ${a.recent_blocked.length ? html`<div id="recent-blocked">${a.recent_blocked.map((e) => html`<${Blocked} e=${e} />`)}</div>` : html`<p class="state empty">Nothing blocked yet.</p>`}
      <//>`}`;
    }}<//>`;
}

export default { id: 'waf', title: 'WAF', component: Waf };
