// Traces (what people open Jaeger UI for): search by service, operation, tags and duration
// through the Jaeger query API (/api/services, /api/traces), and a trace by id as a span
// waterfall with parent/child nesting, attributes, events and status.
import { html, useState, useData, Async, Badge, Section, Field, Empty, fmtNum } from '../ui.js';
import { api } from '../api.js';

const tracesApi = (path) => api(`/console/api/proxy/traces/${path}`);

const LOOKBACKS = [['15m', 15 * 60], ['1h', 3600], ['6h', 6 * 3600], ['24h', 86400], ['2d', 2 * 86400], ['7d', 7 * 86400]];

// `http.status_code=500 error=true` → {"http.status_code":"500","error":"true"}; `Err` text
// for anything else.
export function parseTags(text) {
  const out = {};
  const re = /\s*([^\s=]+)=("([^"]*)"|(\S*))/y;
  let rest = text.trim();
  while (rest) {
    re.lastIndex = 0;
    const m = re.exec(rest);
    if (!m) throw new Error(`tags: expected key=value pairs separated by spaces, at "${rest.slice(0, 20)}"`);
    out[m[1]] = m[3] !== undefined ? m[3] : m[4];
    rest = rest.slice(re.lastIndex).trim();
  }
  return out;
}

export function fmtDur(us) {
  if (us === null || us === undefined) return '—';
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${fmtNum(us / 1000, us < 1e4 ? 2 : 1)} ms`;
  return `${fmtNum(us / 1e6, 2)} s`;
}

function tagValue(span, key) {
  const t = span.tags.find((x) => x.key === key);
  return t ? t.value : undefined;
}

function isError(span) {
  const e = tagValue(span, 'error');
  return e === true || e === 'true' || tagValue(span, 'otel.status_code') === 'ERROR';
}

function summary(trace) {
  const spans = trace.spans;
  const ids = new Set(spans.map((s) => s.spanID));
  const roots = spans.filter((s) => !s.references.some((r) => r.refType === 'CHILD_OF' && ids.has(r.spanID)));
  const root = roots.sort((a, b) => a.startTime - b.startTime)[0] || spans[0];
  const start = Math.min(...spans.map((s) => s.startTime));
  const end = Math.max(...spans.map((s) => s.startTime + s.duration));
  const services = [...new Set(spans.map((s) => (trace.processes[s.processID] || {}).serviceName))];
  return {
    root, start, duration: end - start, services, errors: spans.filter(isError).length,
    name: `${(trace.processes[root.processID] || {}).serviceName || '?'}: ${root.operationName}`,
  };
}

function Search({ onResults }) {
  const services = useData(() => tracesApi('services'), []);
  const [service, setService] = useState('');
  const list = (services.data && services.data.data) || [];
  const svc = service || list[0] || '';
  const ops = useData(() => (svc ? tracesApi(`operations?service=${encodeURIComponent(svc)}`) : Promise.resolve({ data: [] })), [svc]);
  const [form, setForm] = useState({ operation: '', tags: '', minDuration: '', maxDuration: '', lookback: '3600', limit: '20' });
  const [error, setError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = (e) => {
    e.preventDefault();
    setError(null);
    let tags;
    try { tags = parseTags(form.tags); } catch (err) { setError(err.message); return; }
    const q = new URLSearchParams();
    if (!svc) { setError('No service has sent a span yet.'); return; }
    q.set('service', svc);
    if (form.operation) q.set('operation', form.operation);
    if (Object.keys(tags).length) q.set('tags', JSON.stringify(tags));
    if (form.minDuration) q.set('minDuration', form.minDuration.trim());
    if (form.maxDuration) q.set('maxDuration', form.maxDuration.trim());
    const end = Date.now() * 1000;
    q.set('end', String(end));
    q.set('start', String(end - Number(form.lookback) * 1e6));
    q.set('limit', form.limit || '20');
    onResults(q.toString());
  };
  if (services.error && !services.data) {
    return html`<div class="state error" role="alert">The traces capability does not answer: ${services.error.message}
      <button type="button" onClick=${services.reload}>Try again</button></div>`;
  }
  return html`<form class="search" onSubmit=${submit} aria-label="Search traces">
    <div class="fields">
      <${Field} label="Service" id="tr-service">
        <select id="tr-service" value=${svc} onChange=${(e) => { setService(e.target.value); setForm({ ...form, operation: '' }); }} disabled=${!list.length}>
          ${list.length ? list.map((s) => html`<option value=${s}>${s}</option>`) : html`<option value="">no service yet</option>`}
        </select><//>
      <${Field} label="Operation" id="tr-op">
        <select id="tr-op" value=${form.operation} onChange=${set('operation')}>
          <option value="">all</option>
          ${[...new Set(((ops.data && ops.data.data) || []).map((o) => o.name))].map((n) => html`<option value=${n}>${n}</option>`)}
        </select><//>
      <${Field} label="Tags" id="tr-tags" hint="key=value, space-separated"><input id="tr-tags" value=${form.tags} onInput=${set('tags')} placeholder="http.status_code=500 error=true" aria-describedby="tr-tags-hint" /><//>
      <${Field} label="Min duration" id="tr-min"><input id="tr-min" value=${form.minDuration} onInput=${set('minDuration')} placeholder="100ms" size="8" /><//>
      <${Field} label="Max duration" id="tr-max"><input id="tr-max" value=${form.maxDuration} onInput=${set('maxDuration')} placeholder="5s" size="8" /><//>
      <${Field} label="Lookback" id="tr-lookback">
        <select id="tr-lookback" value=${form.lookback} onChange=${set('lookback')}>${LOOKBACKS.map(([l, s]) => html`<option value=${String(s)}>${l}</option>`)}</select><//>
      <${Field} label="Limit" id="tr-limit"><input id="tr-limit" type="number" min="1" max="1500" value=${form.limit} onInput=${set('limit')} size="5" /><//>
    </div>
    <button type="submit" disabled=${services.loading && !services.data}>Find traces</button>
    ${error && html`<p class="state error" role="alert">${error}</p>`}
  </form>`;
}

function Results({ query }) {
  const state = useData(() => tracesApi(`traces?${query}`), [query]);
  return html`<${Async} state=${state} isEmpty=${(d) => !d.data || !d.data.length} empty="No trace matches.">${(d) => {
    const rows = d.data.map((t) => ({ t, s: summary(t) })).sort((a, b) => b.s.start - a.s.start);
    return html`<div class="table-wrap" tabindex="0"><table id="trace-results">
      <caption class="sr-only">Traces found, newest first</caption>
      <thead><tr><th scope="col">Trace</th><th scope="col">Started</th><th scope="col" class="num">Duration</th><th scope="col" class="num">Spans</th><th scope="col">Services</th></tr></thead>
      <tbody>${rows.map(({ t, s }) => html`<tr>
        <th scope="row"><a href=${`#/traces/${t.traceID}`}>${s.name}</a> ${s.errors ? html`<${Badge} kind="bad">${s.errors} error${s.errors > 1 ? 's' : ''}<//>` : ''}
          <br /><small><code>${t.traceID}</code></small></th>
        <td>${new Date(s.start / 1000).toLocaleString()}</td><td class="num">${fmtDur(s.duration)}</td>
        <td class="num">${t.spans.length}</td><td>${s.services.join(', ')}</td></tr>`)}</tbody>
    </table></div>`;
  }}<//>`;
}

// Spans depth-first from the roots, children by start time.
export function ordered(spans) {
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = s.references.find((r) => r.refType === 'CHILD_OF' && byId.has(r.spanID));
    if (parent) { if (!kids.has(parent.spanID)) kids.set(parent.spanID, []); kids.get(parent.spanID).push(s); } else roots.push(s);
  }
  const out = [];
  const walk = (s, depth) => {
    out.push({ span: s, depth });
    for (const c of (kids.get(s.spanID) || []).sort((a, b) => a.startTime - b.startTime)) walk(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.startTime - b.startTime)) walk(r, 0);
  return out;
}

function KV({ items }) {
  if (!items.length) return html`<p class="muted">None.</p>`;
  return html`<dl class="kv">${items.map((t) => html`<dt>${t.key}</dt><dd><code>${typeof t.value === 'object' ? JSON.stringify(t.value) : String(t.value)}</code></dd>`)}</dl>`;
}

function SpanRow({ row, trace, t0, total }) {
  const { span, depth } = row;
  const svc = (trace.processes[span.processID] || {}).serviceName || '?';
  const left = total ? ((span.startTime - t0) / total) * 1000 : 0;
  const width = total ? Math.max(2, (span.duration / total) * 1000) : 1000;
  const err = isError(span);
  const status = tagValue(span, 'otel.status_code') || 'UNSET';
  const parent = span.references.find((r) => r.refType === 'CHILD_OF');
  return html`<li class=${`span depth-${Math.min(depth, 8)}`} data-span-id=${span.spanID}>
    <details>
      <summary>
        <span class="span-name"><strong>${svc}</strong> ${span.operationName}${err ? html` <${Badge} kind="bad">error<//>` : ''}</span>
        <span class="span-bar" aria-hidden="true"><svg viewBox="0 0 1000 12" preserveAspectRatio="none" focusable="false">
          <rect x=${Math.min(left, 998)} y="1" width=${Math.min(width, 1000 - Math.min(left, 998))} height="10" class=${err ? 'bar err' : 'bar'} /></svg></span>
        <span class="span-dur">${fmtDur(span.duration)}</span>
      </summary>
      <div class="span-detail">
        <p>Span <code>${span.spanID}</code>${parent ? html` · parent <code>${parent.spanID}</code>` : ' · root'} · starts ${fmtDur(span.startTime - t0)} in · status <strong>${status}</strong>${tagValue(span, 'otel.status_description') ? `: ${tagValue(span, 'otel.status_description')}` : ''}</p>
        <h4>Attributes</h4><${KV} items=${span.tags} />
        <h4>Events</h4>${span.logs.length ? html`<ol class="events">${span.logs.map((l) => html`<li><span class="muted">+${fmtDur(l.timestamp - span.startTime)}</span> <${KV} items=${l.fields} /></li>`)}</ol>` : html`<p class="muted">None.</p>`}
        <h4>Process</h4><${KV} items=${[{ key: 'service.name', value: svc }, ...(((trace.processes[span.processID] || {}).tags) || [])]} />
      </div>
    </details>
  </li>`;
}

function TraceView({ id }) {
  const state = useData(() => tracesApi(`traces/${encodeURIComponent(id)}`), [id]);
  return html`<p><a href="#/traces">← Back to the search</a></p>
    <${Async} state=${state} isEmpty=${(d) => !d.data || !d.data.length} empty=${`No trace ${id}.`}>${(d) => {
      const trace = d.data[0];
      const s = summary(trace);
      const rows = ordered(trace.spans);
      return html`<${Section} title=${s.name}>
        <p><code>${trace.traceID}</code> · ${new Date(s.start / 1000).toLocaleString()} · ${fmtDur(s.duration)} · ${trace.spans.length} spans · ${s.services.length} services
          ${s.errors ? html` · <${Badge} kind="bad">${s.errors} with errors<//>` : ''}</p>
        <p class="muted">Each row is a span; children are indented under their parent. Open a row for its attributes, events and status.</p>
        <ul class="waterfall" id="waterfall">${rows.map((r) => html`<${SpanRow} row=${r} trace=${trace} t0=${s.start} total=${s.duration} />`)}</ul>
      <//>`;
    }}<//>`;
}

function Traces({ params }) {
  const [query, setQuery] = useState(null);
  if (params[0]) return html`<h1>Trace</h1><${TraceView} id=${params[0]} />`;
  return html`<h1>Traces</h1>
    <${Section} title="Search"><${Search} onResults=${setQuery} /><//>
    <${Section} title="Results">${query ? html`<${Results} query=${query} />` : html`<${Empty}>Choose a service and press Find traces.<//>`}<//>`;
}

export default { id: 'traces', title: 'Traces', component: Traces };
