// Overview: the roadmap's success metrics (live, with target, source and trend, or what
// would measure them), resource use, capability status.
import { html, useData, Async, Badge, stateKind, fmtBytes, fmtNum, Section } from '../ui.js';
import { api } from '../api.js';
import { Chart, Spark } from '../chart.js';

function MetricCard({ m }) {
  const measured = m.value !== null && m.value !== undefined;
  return html`<article class="metric" aria-labelledby=${`m-${m.id}`} data-metric=${m.id}>
    <h3 id=${`m-${m.id}`}>${m.name}</h3>
    ${measured
      ? html`<p><span class="value">${fmtNum(m.value)}${m.unit}</span> <${Badge} kind=${m.ok ? 'ok' : 'bad'}>${m.ok ? 'on target' : 'off target'}<//></p>`
      : html`<p><${Badge} kind="neutral">not measured yet<//></p><p class="muted">${m.how}</p>`}
    ${measured && m.detail && html`<p class="detail">${m.detail}</p>`}
    <p class="target">Target: ${m.target}</p>
    <p class="source">Source: ${m.source}</p>
    ${measured && html`<${Spark} points=${m.trend} label=${m.name} />`}
  </article>`;
}

function Overview() {
  const state = useData(() => api('/console/api/overview'), [], 5000);
  return html`<h1>Overview</h1>
    <${Async} state=${state}>${(d) => {
      const times = d.series.map((s) => s[0]);
      return html`
      <${Section} title="Success metrics">
        <div class="grid">${d.metrics.map((m) => html`<${MetricCard} m=${m} />`)}</div>
      <//>
      <${Section} title="Capabilities">
        <div class="table-wrap" tabindex="0"><table>
          <thead><tr><th scope="col">Capability</th><th scope="col">State</th><th scope="col">Serving</th><th scope="col">Summary</th></tr></thead>
          <tbody>${d.capabilities.map((c) => html`<tr>
            <th scope="row">${c.name}</th><td><${Badge} kind=${stateKind(c.state)}>${c.state}<//></td>
            <td>${c.serving ? 'yes' : 'no'}</td><td>${c.summary}</td></tr>`)}</tbody>
        </table></div>
      <//>
      <${Section} title="Resources">
        <p>RSS <strong>${fmtBytes(d.process.rss_bytes)}</strong> ·
          CPU <strong>${d.process.cpu_percent === null ? '—' : `${fmtNum(d.process.cpu_percent)}%`}</strong>
          (${fmtNum(d.process.cpu_seconds, 2)} s total) · open files ${d.process.open_fds ?? '—'}</p>
        <p class="muted">${d.process.note}</p>
        <${Chart} title="Memory (RSS, MB)" times=${times} series=${[{ label: 'RSS MB', values: d.series.map((s) => Math.round(s[1] / 1048576 * 10) / 10) }]} />
        <${Chart} title="Data directory (MB)" times=${times} series=${[{ label: 'data MB', values: d.series.map((s) => Math.round(s[3] / 1048576 * 100) / 100) }]} />
        <h3>Disk per capability</h3>
        <div class="table-wrap" tabindex="0"><table>
          <thead><tr><th scope="col">Where</th><th scope="col" class="num">Size</th></tr></thead>
          <tbody>${d.disk.map(([n, b]) => html`<tr><th scope="row">${n}</th><td class="num">${fmtBytes(b)}</td></tr>`)}</tbody>
        </table></div>
      <//>
      <${Section} title="Listeners">
        <div class="table-wrap" tabindex="0"><table>
          <thead><tr><th scope="col">Listener</th><th scope="col">Capability</th><th scope="col">Address</th><th scope="col">TLS</th></tr></thead>
          <tbody>${d.listeners.map((l) => html`<tr><th scope="row">${l.name}</th><td>${l.capability}</td><td><code>${l.addr}</code></td><td>${l.tls ? 'yes' : 'no'}</td></tr>`)}</tbody>
        </table></div>
      <//>`;
    }}<//>`;
}

export default { id: 'overview', title: 'Overview', component: Overview };
