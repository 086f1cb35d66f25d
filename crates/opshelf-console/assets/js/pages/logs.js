// Logs (what people open Grafana's Explore on Loki for): a LogQL query box over
// /loki/api/v1/query_range, a label browser (labels, label/<name>/values) that builds the
// stream selector, and the log volume over the range as a uPlot chart.
import { html, useState, useData, Async, Section, Field, Empty, ErrorBox } from '../ui.js';
import { api } from '../api.js';
import { Chart } from '../chart.js';

const lokiApi = (path) => api(`/console/api/proxy/logs/${path}`);

const RANGES = [['5m', 300], ['15m', 900], ['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['7d', 7 * 86400]];

// About 60 buckets over the range, in whole seconds.
export function stepFor(seconds) { return Math.max(1, Math.ceil(seconds / 60)); }

// `{app="api"} |= "x"` → `sum(count_over_time({app="api"} |= "x" [60s]))`; null for a
// metric query (it is charted as it is).
export function volumeQuery(q, step) {
  const t = q.trim();
  if (!t.startsWith('{')) return null;
  return `sum(count_over_time(${t} [${step}s]))`;
}

// Add or replace `name="value"` in the query's leading stream selector.
export function withMatcher(q, name, value) {
  const esc = value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const m = `${name}="${esc}"`;
  const t = q.trim();
  const sel = /^\{([^}]*)\}/.exec(t);
  if (!sel) return `{${m}}${t ? ` ${t}` : ''}`;
  const parts = sel[1].split(',').map((p) => p.trim()).filter((p) => p && !new RegExp(`^${name}\\s*(=|!=|=~|!~)`).test(p));
  parts.push(m);
  return `{${parts.join(', ')}}${t.slice(sel[0].length)}`;
}

function nsRange(seconds) {
  const end = BigInt(Date.now()) * 1000000n;
  return { start: (end - BigInt(seconds) * 1000000000n).toString(), end: end.toString() };
}

function Labels({ range, onPick }) {
  const [open, setOpen] = useState(null);
  const names = useData(() => { const r = nsRange(range); return lokiApi(`labels?start=${r.start}&end=${r.end}`); }, [range]);
  const values = useData(() => {
    if (!open) return Promise.resolve({ data: [] });
    const r = nsRange(range);
    return lokiApi(`label/${encodeURIComponent(open)}/values?start=${r.start}&end=${r.end}`);
  }, [open, range]);
  return html`<${Async} state=${names} isEmpty=${(d) => !d.data || !d.data.length} empty="No labels in this range: nothing has been pushed yet.">${(d) => html`
    <div class="labels" role="group" aria-label="Label names">
      ${d.data.map((n) => html`<button type="button" class=${open === n ? '' : 'secondary'} aria-pressed=${open === n} onClick=${() => setOpen(open === n ? null : n)}>${n}</button>`)}
    </div>
    ${open && html`<div class="label-values" id="label-values">
      <h3>Values of <code>${open}</code></h3>
      <${Async} state=${values} isEmpty=${(v) => !v.data || !v.data.length} empty="No values.">${(v) => html`
        <div class="labels" role="group" aria-label=${`Values of ${open}`}>${v.data.map((val) => html`<button type="button" class="secondary" onClick=${() => onPick(open, val)}>${val}</button>`)}</div>`}<//>
    </div>`}`}<//>`;
}

// Loki answers only the steps that have lines: every step of the range, zero where empty.
// Its points fall at start + k * step (start not aligned), so each goes to the bucket its time
// floors to: rounding sent the newest point, at `end`, one bucket past the last one drawn.
export function buckets(points, range, step, nowMs = Date.now()) {
  const by = new Map(points.map(([t, v]) => [Math.floor(Number(t) / step), Number(v)]));
  const end = Math.floor(nowMs / 1000 / step);
  const times = [];
  const values = [];
  for (let i = end - Math.ceil(range / step); i <= end; i += 1) {
    times.push(i * step * 1000);
    values.push(by.get(i) || 0);
  }
  return { times, values };
}

function Volume({ q, range }) {
  const step = stepFor(range);
  const vq = volumeQuery(q, step);
  const state = useData(() => {
    if (!vq) return Promise.resolve(null);
    const r = nsRange(range);
    return lokiApi(`query_range?${new URLSearchParams({ query: vq, start: r.start, end: r.end, step: String(step) })}`);
  }, [vq, range]);
  if (!vq) return null;
  return html`<${Async} state=${state}>${(d) => {
    const points = (d && d.data.result[0] && d.data.result[0].values) || [];
    const { times, values } = buckets(points, range, step);
    const total = values.reduce((n, v) => n + v, 0);
    return html`<${Chart} title=${`Log volume (lines per ${step} s)`} times=${times} series=${[{ label: 'lines', values }]}
      summary=${`${plural(total, 'line')} over the range`} />`;
  }}<//>`;
}

function plural(n, word) { return `${n} ${word}${n === 1 ? '' : 's'}`; }

function labelText(stream) {
  return Object.entries(stream).map(([k, v]) => `${k}="${v}"`).join(', ');
}

function Streams({ result }) {
  const lines = [];
  for (const s of result) for (const [ts, line] of s.values) lines.push({ ts, line, labels: s.stream });
  lines.sort((a, b) => (BigInt(b.ts) > BigInt(a.ts) ? 1 : BigInt(b.ts) < BigInt(a.ts) ? -1 : 0));
  if (!lines.length) return html`<${Empty}>No log line matches in this range.<//>`;
  return html`<p class="muted">${plural(lines.length, 'line')} from ${plural(result.length, 'stream')}, newest first.</p>
    <ol class="log-lines" id="log-lines">${lines.map((l) => html`<li>
      <div class="log-meta"><time datetime=${new Date(Number(BigInt(l.ts) / 1000000n)).toISOString()}>${new Date(Number(BigInt(l.ts) / 1000000n)).toLocaleString()}</time>
        <code class="log-labels">${labelText(l.labels)}</code></div>
      <pre class="log-line">${l.line}</pre></li>`)}</ol>`;
}

function Matrix({ result }) {
  if (!result.length) return html`<${Empty}>The query returned no series.<//>`;
  const times = [...new Set(result.flatMap((s) => s.values.map((v) => Number(v[0]) * 1000)))].sort((a, b) => a - b);
  const series = result.slice(0, 4).map((s) => {
    const by = new Map(s.values.map((v) => [Number(v[0]) * 1000, Number(v[1])]));
    return { label: labelText(s.metric) || 'value', values: times.map((t) => (by.has(t) ? by.get(t) : null)) };
  });
  return html`<${Chart} title="Query result" times=${times} series=${series} />
    ${result.length > 4 && html`<p class="muted">Showing 4 of ${result.length} series.</p>`}`;
}

function Results({ run }) {
  const state = useData(() => {
    const r = nsRange(run.range);
    const p = new URLSearchParams({ query: run.q, start: r.start, end: r.end, limit: String(run.limit), direction: 'backward' });
    if (!run.q.trim().startsWith('{')) p.set('step', String(stepFor(run.range)));
    return lokiApi(`query_range?${p}`);
  }, [run]);
  return html`<${Async} state=${state}>${(d) => {
    const kind = d.data.resultType;
    if (kind === 'streams') return html`<${Streams} result=${d.data.result} />`;
    if (kind === 'matrix') return html`<${Matrix} result=${d.data.result} />`;
    return html`<pre>${JSON.stringify(d.data.result, null, 2)}</pre>`;
  }}<//>`;
}

function Logs() {
  const [q, setQ] = useState('');
  const [range, setRange] = useState(3600);
  const [limit, setLimit] = useState(100);
  const [run, setRun] = useState(null);
  const [error, setError] = useState(null);
  const submit = (e) => {
    e.preventDefault();
    if (!q.trim()) { setError(new Error('Write a LogQL query, e.g. {job="opshelf"} |= "error", or pick a label below.')); return; }
    setError(null);
    setRun({ q, range: Number(range), limit: Number(limit) || 100, at: Date.now() });
  };
  return html`<h1>Logs</h1>
    <${Section} title="Query">
      <form onSubmit=${submit} aria-label="LogQL query">
        <${Field} label="LogQL" id="logql" hint=${'A log query ({app="api"} |= "error") lists lines; a metric query (rate(...[5m])) is charted.'}>
          <textarea id="logql" rows="2" spellcheck="false" value=${q} onInput=${(e) => setQ(e.target.value)} aria-describedby="logql-hint" placeholder='{job="opshelf"} |= "error"'></textarea><//>
        <div class="row">
          <${Field} label="Range" id="log-range"><select id="log-range" value=${String(range)} onChange=${(e) => setRange(Number(e.target.value))}>
            ${RANGES.map(([l, s]) => html`<option value=${String(s)}>last ${l}</option>`)}</select><//>
          <${Field} label="Line limit" id="log-limit"><input id="log-limit" type="number" min="1" max="5000" size="6" value=${limit} onInput=${(e) => setLimit(e.target.value)} /><//>
          <button type="submit">Run query</button>
        </div>
        <${ErrorBox} error=${error} />
      </form>
      <h3>Labels</h3>
      <p class="muted">Pick a label, then a value, to add it to the query's stream selector.</p>
      <${Labels} range=${Number(range)} onPick=${(n, v) => setQ(withMatcher(q, n, v))} />
    <//>
    ${run ? html`
      ${volumeQuery(run.q, 1) && html`<${Section} title="Log volume"><${Volume} q=${run.q} range=${run.range} key=${run.at} /><//>`}
      <${Section} title="Results"><${Results} run=${run} /><//>`
      : html`<${Empty}>Run a query to see lines and their volume.<//>`}`;
}

export default { id: 'logs', title: 'Logs', component: Logs };
