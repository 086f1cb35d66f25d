// Scans: reports per repository and branch (Trivy JSON or SARIF), the latest findings, the
// trend of high/critical, the gate.
import { html, useState, useData, Async, Badge, Section, Field, ErrorBox, useAction, fmtTime } from '../ui.js';
import { api } from '../api.js';
import { Chart } from '../chart.js';

const SEV = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
const sevKind = (s) => ({ CRITICAL: 'bad', HIGH: 'bad', MEDIUM: 'warn' }[s] || 'neutral');

function Upload({ onDone }) {
  const [repo, setRepo] = useState('');
  const [branch, setBranch] = useState('main');
  const [file, setFile] = useState(null);
  const act = useAction();
  const submit = (e) => {
    e.preventDefault();
    act.run(async () => {
      const text = await file.text();
      await api(`/console/api/scans?repo=${encodeURIComponent(repo)}&branch=${encodeURIComponent(branch)}`, { method: 'POST', body: text, headers: { 'Content-Type': 'application/json' } });
      onDone();
    });
  };
  return html`<${Section} title="Upload a report">
    <p class="muted">Or from CI: <code>OPSHELF_UPLOAD_TOKEN=$TOKEN opshelf scan fs . --format json --upload "$CONSOLE"</code> (repository and branch from git, or <code>--repo</code> / <code>--branch</code>); any Trivy JSON or SARIF report can also be POSTed to <code>/console/api/scans?repo=…&branch=…</code> with <code>Authorization: Bearer $TOKEN</code>.</p>
    <form class="inline" onSubmit=${submit}>
      <${Field} label="Repository" id="scan-repo"><input id="scan-repo" value=${repo} onInput=${(e) => setRepo(e.target.value)} required /><//>
      <${Field} label="Branch" id="scan-branch"><input id="scan-branch" value=${branch} onInput=${(e) => setBranch(e.target.value)} required /><//>
      <${Field} label="Report (Trivy JSON or SARIF)" id="scan-file"><input id="scan-file" type="file" accept=".json,.sarif,application/json" onChange=${(e) => setFile(e.target.files[0])} required /><//>
      <button type="submit" disabled=${act.busy || !file}>Upload</button>
    </form><${ErrorBox} error=${act.error} /><//>`;
}

function Report({ repo, branch }) {
  const state = useData(() => api(`/console/api/scans/latest?repo=${encodeURIComponent(repo)}&branch=${encodeURIComponent(branch)}`), [repo, branch]);
  return html`<${Async} state=${state} isEmpty=${(d) => !d.findings.length} empty="No findings in the latest report.">${(d) => html`
    <div class="table-wrap" tabindex="0"><table>
      <thead><tr><th scope="col">Severity</th><th scope="col">Kind</th><th scope="col">Id</th><th scope="col">Where</th><th scope="col">Package</th><th scope="col">Fixed in</th><th scope="col">Title</th></tr></thead>
      <tbody>${d.findings.slice(0, 300).map((f) => html`<tr><td><${Badge} kind=${sevKind(f.severity)}>${f.severity}<//></td><td>${f.kind}</td><th scope="row">${f.id}</th>
        <td><code>${f.target}</code></td><td>${f.package ? `${f.package} ${f.installed}` : ''}</td><td>${f.fixed || ''}</td><td>${f.title}</td></tr>`)}</tbody>
    </table></div>
    ${d.findings.length > 300 && html`<p class="muted">First 300 of ${d.findings.length} shown.</p>`}`}<//>`;
}

function Scans({ session }) {
  const state = useData(() => api('/console/api/scans'), []);
  const [open, setOpen] = useState(null);
  return html`<h1>Scans</h1>
    ${session.role === 'admin' && html`<${Upload} onDone=${state.reload} />`}
    <${Async} state=${state} isEmpty=${(d) => !d.reports.length} empty="No scan report yet. Upload one above, or POST one from CI.">${(d) => html`
      ${d.reports.map(({ summary: s, trend }) => {
        const key = `${s.repo} ${s.branch}`;
        return html`<${Section} title=${`${s.repo} · ${s.branch}`} actions=${html`<${Badge} kind=${s.pass ? 'ok' : 'bad'}>gate ${s.pass ? 'passes' : 'fails'}<//>`}>
          <p>Latest ${fmtTime(s.time_ms)} (${s.format}) · secrets <strong>${s.secrets}</strong> · misconfigurations ${s.misconfigurations}</p>
          <p>${SEV.map((v) => html`<${Badge} kind=${sevKind(v)}>${v} ${s.vulnerabilities[v] || 0}<//> `)}</p>
          <${Chart} title="High + critical per report" times=${trend.map((t) => t[0])} series=${[{ label: 'high+critical', values: trend.map((t) => t[1]) }]} height=${140} />
          <button type="button" class="secondary" aria-expanded=${open === key} onClick=${() => setOpen(open === key ? null : key)}>${open === key ? 'Hide findings' : 'Show findings'}</button>
          ${open === key && html`<${Report} repo=${s.repo} branch=${s.branch} />`}
        <//>`;
      })}`}<//>`;
}

export default { id: 'scans', title: 'Scans', component: Scans };
