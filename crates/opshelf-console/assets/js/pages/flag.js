// One flag: environments, strategies (gradual rollout with stickiness and group id, user
// ids, IPs), constraints, segments, variants, dependencies, archive, its event log.
import { html, useState, useData, Async, Badge, Section, Field, ErrorBox, useAction, fmtTime } from '../ui.js';
import { flagsApi } from '../api.js';

const enc = encodeURIComponent;
const OPERATORS = ['IN', 'NOT_IN', 'STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH', 'NUM_EQ', 'NUM_GT', 'NUM_GTE', 'NUM_LT', 'NUM_LTE', 'DATE_AFTER', 'DATE_BEFORE', 'SEMVER_EQ', 'SEMVER_GT', 'SEMVER_LT'];
const SINGLE = (op) => !['IN', 'NOT_IN', 'STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH'].includes(op);

// A line diff (LCS) of two JSON documents, for the event log.
function diffLines(a, b) {
  const x = a ? JSON.stringify(a, null, 2).split('\n') : [];
  const y = b ? JSON.stringify(b, null, 2).split('\n') : [];
  if (x.length * y.length > 250000) return [...x.map((l) => ['-', l]), ...y.map((l) => ['+', l])];
  const m = x.length; const n = y.length;
  const t = Array.from({ length: m + 1 }, () => new Uint16Array(n + 1));
  for (let i = m - 1; i >= 0; i -= 1) for (let j = n - 1; j >= 0; j -= 1) t[i][j] = x[i] === y[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
  const out = []; let i = 0; let j = 0;
  while (i < m && j < n) {
    if (x[i] === y[j]) { out.push([' ', x[i]]); i += 1; j += 1; } else if (t[i + 1][j] >= t[i][j + 1]) { out.push(['-', x[i]]); i += 1; } else { out.push(['+', y[j]]); j += 1; }
  }
  while (i < m) { out.push(['-', x[i]]); i += 1; }
  while (j < n) { out.push(['+', y[j]]); j += 1; }
  return out;
}

export function EventList({ events }) {
  return html`<ol class="events">${events.map((e) => {
    const d = diffLines(e.preData, e.data).filter((l) => l[0] !== ' ' || false);
    return html`<li data-event=${e.type}><strong>${e.type}</strong> ${e.featureName && html`<code>${e.featureName}</code>`}
      <small> by ${e.createdBy || '—'} · ${fmtTime(e.createdAt)}${e.environment ? ` · ${e.environment}` : ''}</small>
      ${d.length > 0 && html`<details><summary>Changes (${d.length} lines)</summary>
        <pre class="diff">${d.map(([k, l]) => html`<span class=${k === '+' ? 'add' : 'del'}>${k} ${l}</span>`)}</pre></details>`}</li>`;
  })}</ol>`;
}

export function ConstraintsEditor({ idPrefix, constraints, onChange, disabled }) {
  const set = (i, patch) => onChange(constraints.map((c, k) => (k === i ? { ...c, ...patch } : c)));
  return html`<fieldset class="constraints"><legend>Constraints</legend>
    ${constraints.length === 0 && html`<p class="muted">No constraints: applies to everyone the strategy picks.</p>`}
    ${constraints.map((c, i) => {
      const id = `${idPrefix}-c${i}`;
      const single = SINGLE(c.operator);
      return html`<div class="row">
        <${Field} label="Context field" id=${`${id}-ctx`}><input id=${`${id}-ctx`} value=${c.contextName} disabled=${disabled} onInput=${(e) => set(i, { contextName: e.target.value })} /><//>
        <${Field} label="Operator" id=${`${id}-op`}><select id=${`${id}-op`} value=${c.operator} disabled=${disabled} onChange=${(e) => set(i, { operator: e.target.value })}>
          ${OPERATORS.map((o) => html`<option value=${o}>${o}</option>`)}</select><//>
        <${Field} label=${single ? 'Value' : 'Values (comma-separated)'} id=${`${id}-v`}><input id=${`${id}-v`} disabled=${disabled}
          value=${single ? (c.value || '') : (c.values || []).join(', ')}
          onInput=${(e) => set(i, single ? { value: e.target.value, values: [] } : { values: e.target.value.split(',').map((s) => s.trim()).filter(Boolean) })} /><//>
        <label class="toggle" for=${`${id}-inv`}><input type="checkbox" id=${`${id}-inv`} checked=${!!c.inverted} disabled=${disabled} onChange=${(e) => set(i, { inverted: e.target.checked })} />NOT</label>
        <label class="toggle" for=${`${id}-ci`}><input type="checkbox" id=${`${id}-ci`} checked=${!!c.caseInsensitive} disabled=${disabled} onChange=${(e) => set(i, { caseInsensitive: e.target.checked })} />ignore case</label>
        ${!disabled && html`<button type="button" class="danger" onClick=${() => onChange(constraints.filter((_, k) => k !== i))}>Remove constraint</button>`}
      </div>`;
    })}
    ${!disabled && html`<button type="button" class="secondary" onClick=${() => onChange([...constraints, { contextName: 'userId', operator: 'IN', values: [], inverted: false, caseInsensitive: false }])}>Add constraint</button>`}
  </fieldset>`;
}

function StrategyEditor({ flag, env, strategy, segments, canChange, onSaved }) {
  const isNew = !strategy.id;
  const [name, setName] = useState(strategy.name || 'flexibleRollout');
  const [p, setP] = useState({ rollout: '100', stickiness: 'default', groupId: flag, ...(strategy.parameters || {}) });
  const [constraints, setConstraints] = useState(strategy.constraints || []);
  const [segs, setSegs] = useState(strategy.segments || []);
  const act = useAction();
  const id = `st-${env}-${strategy.id || 'new'}`;
  const base = `projects/default/features/${enc(flag)}/environments/${enc(env)}/strategies`;
  const save = (e) => {
    e.preventDefault();
    let parameters = {};
    if (name === 'flexibleRollout') parameters = { rollout: String(p.rollout), stickiness: p.stickiness, groupId: p.groupId };
    if (name === 'userWithId') parameters = { userIds: p.userIds || '' };
    if (name === 'remoteAddress') parameters = { IPs: p.IPs || '' };
    const body = { name, parameters, constraints, segments: segs };
    act.run(async () => {
      if (isNew) await flagsApi(base, { method: 'POST', body });
      else await flagsApi(`${base}/${enc(strategy.id)}`, { method: 'PUT', body });
      onSaved();
    });
  };
  const del = () => act.run(async () => { await flagsApi(`${base}/${enc(strategy.id)}`, { method: 'DELETE' }); onSaved(); });
  const ro = !canChange;
  return html`<form class="strategy" onSubmit=${save} aria-label=${`${isNew ? 'New strategy' : `Strategy ${name}`} in ${env}`}>
    <${Field} label="Strategy" id=${`${id}-name`}><select id=${`${id}-name`} value=${name} disabled=${ro} onChange=${(e) => setName(e.target.value)}>
      <option value="flexibleRollout">Gradual rollout</option><option value="default">Standard (everyone)</option>
      <option value="userWithId">User ids</option><option value="remoteAddress">IP addresses</option></select><//>
    ${name === 'flexibleRollout' && html`
      <${Field} label=${`Rollout: ${p.rollout}%`} id=${`${id}-rollout`}><input id=${`${id}-rollout`} class="rollout" type="range" min="0" max="100" step="1" value=${p.rollout} disabled=${ro}
        aria-valuetext=${`${p.rollout} percent`} onInput=${(e) => setP({ ...p, rollout: e.target.value })} /><//>
      <div class="row">
        <${Field} label="Stickiness" id=${`${id}-stick`}><select id=${`${id}-stick`} value=${p.stickiness} disabled=${ro} onChange=${(e) => setP({ ...p, stickiness: e.target.value })}>
          ${['default', 'userId', 'sessionId', 'random'].map((s) => html`<option value=${s}>${s}</option>`)}</select><//>
        <${Field} label="Group id" id=${`${id}-group`}><input id=${`${id}-group`} value=${p.groupId} disabled=${ro} onInput=${(e) => setP({ ...p, groupId: e.target.value })} /><//>
      </div>`}
    ${name === 'userWithId' && html`<${Field} label="User ids (comma-separated)" id=${`${id}-users`}><input id=${`${id}-users`} value=${p.userIds || ''} disabled=${ro} onInput=${(e) => setP({ ...p, userIds: e.target.value })} /><//>`}
    ${name === 'remoteAddress' && html`<${Field} label="IP addresses or CIDRs (comma-separated)" id=${`${id}-ips`}><input id=${`${id}-ips`} value=${p.IPs || ''} disabled=${ro} onInput=${(e) => setP({ ...p, IPs: e.target.value })} /><//>`}
    <${ConstraintsEditor} idPrefix=${id} constraints=${constraints} onChange=${setConstraints} disabled=${ro} />
    ${segments.length > 0 && html`<fieldset><legend>Segments</legend>${segments.map((s) => html`<label class="toggle" for=${`${id}-seg${s.id}`}>
      <input type="checkbox" id=${`${id}-seg${s.id}`} checked=${segs.includes(s.id)} disabled=${ro}
        onChange=${(e) => setSegs(e.target.checked ? [...segs, s.id] : segs.filter((x) => x !== s.id))} />${s.name}</label> `)}</fieldset>`}
    ${canChange && html`<div class="row"><button type="submit" disabled=${act.busy}>${isNew ? 'Add strategy' : 'Save strategy'}</button>
      ${!isNew && html`<button type="button" class="danger" onClick=${del} disabled=${act.busy}>Delete strategy</button>`}</div>`}
    <${ErrorBox} error=${act.error} />
  </form>`;
}

function Variants({ flag, env, variants, canChange, onSaved }) {
  const [rows, setRows] = useState(variants || []);
  const act = useAction();
  const set = (i, patch) => setRows(rows.map((r, k) => (k === i ? { ...r, ...patch } : r)));
  const save = () => act.run(async () => {
    const n = rows.length;
    const body = rows.map((r) => ({ name: r.name, weight: n ? Math.floor(1000 / n) : 0, weightType: 'variable', stickiness: r.stickiness || 'default',
      ...(r.payload && r.payload.value ? { payload: r.payload } : {}) }));
    await flagsApi(`projects/default/features/${enc(flag)}/environments/${enc(env)}/variants`, { method: 'PUT', body });
    onSaved();
  });
  const id = `var-${env}`;
  return html`<div class="variants"><h3>Variants in ${env}</h3>
    ${rows.length === 0 && html`<p class="muted">No variants: the SDKs get the "disabled" variant.</p>`}
    ${rows.map((r, i) => html`<div class="row">
      <${Field} label="Variant name" id=${`${id}-${i}-n`}><input id=${`${id}-${i}-n`} value=${r.name} disabled=${!canChange} onInput=${(e) => set(i, { name: e.target.value })} /><//>
      <span class="muted">weight ${((r.weight || 0) / 10).toFixed(1)}%</span>
      <${Field} label="Payload type" id=${`${id}-${i}-t`}><select id=${`${id}-${i}-t`} value=${(r.payload && r.payload.type) || 'string'} disabled=${!canChange}
        onChange=${(e) => set(i, { payload: { type: e.target.value, value: (r.payload && r.payload.value) || '' } })}>
        ${['string', 'json', 'csv', 'number'].map((t) => html`<option value=${t}>${t}</option>`)}</select><//>
      <${Field} label="Payload" id=${`${id}-${i}-v`}><input id=${`${id}-${i}-v`} value=${(r.payload && r.payload.value) || ''} disabled=${!canChange}
        onInput=${(e) => set(i, { payload: { type: (r.payload && r.payload.type) || 'string', value: e.target.value } })} /><//>
      ${canChange && html`<button type="button" class="danger" onClick=${() => setRows(rows.filter((_, k) => k !== i))}>Remove variant</button>`}
    </div>`)}
    ${canChange && html`<div class="row"><button type="button" class="secondary" onClick=${() => setRows([...rows, { name: `variant-${rows.length + 1}`, weight: 0 }])}>Add variant</button>
      <button type="button" onClick=${save} disabled=${act.busy}>Save variants (even weights)</button></div>`}
    <${ErrorBox} error=${act.error} />
  </div>`;
}

function Dependencies({ flag, deps, all, canChange, onSaved }) {
  const [parent, setParent] = useState('');
  const [enabled, setEnabled] = useState(true);
  const act = useAction();
  const base = `projects/default/features/${enc(flag)}/dependencies`;
  const add = (e) => { e.preventDefault(); act.run(async () => { await flagsApi(base, { method: 'POST', body: { feature: parent, enabled } }); onSaved(); }); };
  const del = (p) => act.run(async () => { await flagsApi(`${base}/${enc(p)}`, { method: 'DELETE' }); onSaved(); });
  return html`<${Section} title="Dependencies">
    ${deps.length === 0 ? html`<p class="muted">No parent flags.</p>` : html`<ul>${deps.map((d) => html`<li>needs <code>${d.feature}</code> ${d.enabled === false ? 'disabled' : 'enabled'}
      ${canChange && html` <button type="button" class="danger" onClick=${() => del(d.feature)}>Remove ${d.feature}</button>`}</li>`)}</ul>`}
    ${canChange && html`<form class="inline" onSubmit=${add}>
      <${Field} label="Parent flag" id="dep-parent"><select id="dep-parent" value=${parent} onChange=${(e) => setParent(e.target.value)} required>
        <option value="">choose…</option>${all.filter((n) => n !== flag).map((n) => html`<option value=${n}>${n}</option>`)}</select><//>
      <label class="toggle" for="dep-enabled"><input type="checkbox" id="dep-enabled" checked=${enabled} onChange=${(e) => setEnabled(e.target.checked)} />parent enabled</label>
      <button type="submit" disabled=${act.busy}>Add dependency</button></form>`}
    <${ErrorBox} error=${act.error} />
  <//>`;
}

export function FlagDetail({ name, session }) {
  const canChange = session.role === 'admin';
  const state = useData(async () => {
    const [f, seg, all, ev] = await Promise.all([
      flagsApi(`projects/default/features/${enc(name)}`),
      flagsApi('segments'),
      flagsApi('projects/default/features'),
      flagsApi(`events/${enc(name)}`),
    ]);
    return { f, segments: seg.segments, all: all.features.map((x) => x.name), events: ev.events };
  }, [name]);
  const act = useAction();
  const toggle = (env, on) => act.run(async () => { await flagsApi(`projects/default/features/${enc(name)}/environments/${enc(env)}/${on ? 'on' : 'off'}`, { method: 'POST' }); state.reload(); });
  const archive = () => act.run(async () => { await flagsApi(`projects/default/features/${enc(name)}`, { method: 'DELETE' }); location.hash = '#/flags'; });
  const stale = (on) => act.run(async () => { await flagsApi(`projects/default/features/${enc(name)}/stale/${on ? 'on' : 'off'}`, { method: 'POST' }); state.reload(); });
  return html`<p><a href="#/flags">← All flags</a></p><h1>Flag ${name}</h1>
    <${Async} state=${state}>${({ f, segments, all, events }) => html`
      <p>${f.description || html`<span class="muted">No description.</span>`} <${Badge}>${f.type}<//> ${f.stale && html`<${Badge} kind="warn">stale<//>`}</p>
      ${canChange && html`<div class="row"><button type="button" class="secondary" onClick=${() => stale(!f.stale)}>${f.stale ? 'Mark active' : 'Mark stale'}</button>
        <button type="button" class="danger" onClick=${archive}>Archive flag</button></div>`}
      <${ErrorBox} error=${act.error} />
      ${f.environments.map((e) => html`<${Section} title=${`Environment ${e.name}`} id=${`env-${e.name}`} actions=${html`<label class="toggle" for=${`env-${e.name}-on`}>
          <input type="checkbox" id=${`env-${e.name}-on`} checked=${e.enabled} disabled=${!canChange || act.busy} onChange=${(ev) => toggle(e.name, ev.target.checked)} />
          ${e.enabled ? 'Enabled' : 'Disabled'} in ${e.name}</label>`}>
        ${e.strategies.length === 0 && html`<p class="muted">No strategy: when enabled, on for everyone.</p>`}
        ${e.strategies.map((s) => html`<${StrategyEditor} key=${s.id} flag=${name} env=${e.name} strategy=${s} segments=${segments} canChange=${canChange} onSaved=${state.reload} />`)}
        ${canChange && html`<details><summary>Add a strategy in ${e.name}</summary>
          <${StrategyEditor} key=${`new-${e.strategies.length}`} flag=${name} env=${e.name} strategy=${{}} segments=${segments} canChange=${canChange} onSaved=${state.reload} /></details>`}
        <${Variants} key=${JSON.stringify(e.variants)} flag=${name} env=${e.name} variants=${e.variants} canChange=${canChange} onSaved=${state.reload} />
      <//>`)}
      <${Dependencies} flag=${name} deps=${f.dependencies || []} all=${all} canChange=${canChange} onSaved=${state.reload} />
      <${Section} title="Event log">
        ${events.length ? html`<${EventList} events=${events} />` : html`<p class="state empty">No events for this flag.</p>`}
      <//>`}<//>`;
}
