// WAF: requests and blocks over time, top rules and clients, recent blocked requests with
// their audit entry, rate-limited addresses, rule-set status and reloads, the mode of each
// route (blocking or detection only): what the WAF reports to the platform status.
import { html, useData, Async, Badge, Section, stateKind, fmtNum, fmtTime } from '../ui.js';
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

function ModeBadge({ mode }) {
  if (mode === 'On') return html`<${Badge} kind="ok">blocking<//>`;
  if (mode === 'DetectionOnly') return html`<${Badge} kind="warn">detection only<//>`;
  return html`<${Badge} kind="bad">off<//>`;
}

function Routes({ routes }) {
  if (!routes || !routes.length) return null;
  return html`<div class="table-wrap" tabindex="0"><table id="waf-routes">
    <caption class="sr-only">Routes, in matching order</caption>
    <thead><tr><th scope="col">Route</th><th scope="col">Mode</th><th scope="col">Upstream</th><th scope="col" class="num">Rate limit / min</th></tr></thead>
    <tbody>${routes.map((r) => html`<tr><th scope="row"><code>${r.host || '*'}${r.path_prefix}</code></th><td><${ModeBadge} mode=${r.mode} /></td>
      <td><code>${r.upstream}</code></td><td class="num">${r.rate_limit_per_minute || 'none'}</td></tr>`)}</tbody>
  </table></div>`;
}

function Limited({ list }) {
  if (!list || !list.length) return html`<p class="state empty">No address was refused by the rate limit in the last 10 minutes.</p>`;
  return html`<div class="table-wrap" tabindex="0"><table id="rate-limited">
    <thead><tr><th scope="col">Address</th><th scope="col">Route</th><th scope="col" class="num">Refused</th><th scope="col" class="num">Last refused</th></tr></thead>
    <tbody>${list.map((l) => html`<tr><th scope="row">${l.address}</th><td><code>${l.route}</code></td><td class="num">${l.refused}</td><td class="num">${l.last_refused_seconds_ago} s ago</td></tr>`)}</tbody>
  </table></div>`;
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
        <p>${s.facts.rules_loaded} rules in use, loaded ${fmtTime(s.facts.rules_loaded_at)} · default mode <strong>${s.facts.mode}</strong></p>
        <p id="waf-reload">Last reload (SIGHUP): ${!s.facts.last_reload_at ? 'none since start'
          : s.facts.last_reload_error ? html`<${Badge} kind="bad">failed<//> ${fmtTime(s.facts.last_reload_at)}: ${s.facts.last_reload_error} <small>(the previous rules stay in use)</small>`
          : html`<${Badge} kind="ok">ok<//> ${fmtTime(s.facts.last_reload_at)}`}</p>
        <p>Requests ${s.facts.requests} · blocked ${s.facts.blocked} · detected but let through (detection only) ${s.facts.detected_only ?? 0}
          · refused by the rate limit ${fmtNum(d.rate_limited_total, 0)}</p>
        <h3>Routes</h3>
        <${Routes} routes=${s.facts.routes} />
      <//>
      <${Section} title="Rate-limited addresses"><${Limited} list=${s.facts.rate_limited} /><//>
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
