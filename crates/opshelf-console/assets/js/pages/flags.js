// Flags: the Unleash admin UI's daily work, through the Unleash admin API opshelf serves.
import { html, useState, useData, Async, Badge, Section, Field, ErrorBox, useAction, fmtTime } from '../ui.js';
import { flagsApi } from '../api.js';
import { FlagDetail, EventList, ConstraintsEditor } from './flag.js';

const enc = encodeURIComponent;

function CreateFlag({ onCreated, canChange }) {
  const [name, setName] = useState('');
  const [type, setType] = useState('release');
  const [description, setDescription] = useState('');
  const act = useAction();
  if (!canChange) return null;
  const submit = (e) => {
    e.preventDefault();
    act.run(async () => {
      await flagsApi('projects/default/features', { method: 'POST', body: { name, type, description } });
      setName(''); setDescription('');
      onCreated(name);
    });
  };
  return html`<${Section} title="Create a flag">
    <form class="inline" onSubmit=${submit}>
      <${Field} label="Name" id="new-flag-name"><input id="new-flag-name" value=${name} onInput=${(e) => setName(e.target.value)} required /><//>
      <${Field} label="Type" id="new-flag-type"><select id="new-flag-type" value=${type} onChange=${(e) => setType(e.target.value)}>
        ${['release', 'experiment', 'operational', 'kill-switch', 'permission'].map((t) => html`<option value=${t}>${t}</option>`)}
      </select><//>
      <${Field} label="Description" id="new-flag-desc"><input id="new-flag-desc" value=${description} onInput=${(e) => setDescription(e.target.value)} /><//>
      <button type="submit" disabled=${act.busy}>Create</button>
    </form>
    <${ErrorBox} error=${act.error} />
  <//>`;
}

function FlagTable({ features, envs, canChange, reload }) {
  const [q, setQ] = useState('');
  const act = useAction();
  const shown = features.filter((f) => !q || f.name.toLowerCase().includes(q.toLowerCase()) || (f.description || '').toLowerCase().includes(q.toLowerCase()));
  const toggle = (f, env, on) => act.run(async () => {
    await flagsApi(`projects/${enc(f.project || 'default')}/features/${enc(f.name)}/environments/${enc(env)}/${on ? 'on' : 'off'}`, { method: 'POST' });
    reload();
  });
  return html`<${Section} title="Flags" actions=${html`<div class="field"><label for="flag-search">Search</label><input id="flag-search" type="search" value=${q} onInput=${(e) => setQ(e.target.value)} placeholder="name or description" /></div>`}>
    <${ErrorBox} error=${act.error} />
    ${shown.length === 0
      ? html`<p class="state empty">${features.length ? 'No flag matches your search.' : 'No flags yet. Create the first one above.'}</p>`
      : html`<div class="table-wrap" tabindex="0"><table>
        <thead><tr><th scope="col">Flag</th><th scope="col">Type</th>${envs.map((e) => html`<th scope="col">${e.name}</th>`)}<th scope="col">Created</th></tr></thead>
        <tbody>${shown.map((f) => html`<tr data-flag=${f.name}>
          <th scope="row"><a href=${`#/flags/${enc(f.name)}`}>${f.name}</a>${f.stale && html` <${Badge} kind="warn">stale<//>`}
            ${f.description && html`<br /><small>${f.description}</small>`}</th>
          <td>${f.type}</td>
          ${envs.map((e) => {
            const fe = (f.environments || []).find((x) => x.name === e.name);
            const on = !!(fe && fe.enabled);
            const id = `t-${f.name}-${e.name}`;
            return html`<td><label class="toggle" for=${id}><input type="checkbox" id=${id} checked=${on} disabled=${!canChange || act.busy}
              onChange=${(ev) => toggle(f, e.name, ev.target.checked)} /><span>${on ? 'on' : 'off'}</span><span class="sr-only"> ${f.name} in ${e.name}</span></label></td>`;
          })}
          <td><small>${fmtTime(f.createdAt)}</small></td></tr>`)}</tbody>
      </table></div>`}
  <//>`;
}

function Archived({ canChange, reload: reloadAll }) {
  const state = useData(() => flagsApi('archive/features'), []);
  const act = useAction();
  const revive = (n) => act.run(async () => { await flagsApi(`archive/revive/${enc(n)}`, { method: 'POST' }); state.reload(); reloadAll(); });
  return html`<${Section} title="Archived flags">
    <${Async} state=${state} isEmpty=${(d) => !d.features.length} empty="No archived flags.">${(d) => html`
      <${ErrorBox} error=${act.error} />
      <ul>${d.features.map((f) => html`<li>${f.name} <small>archived ${fmtTime(f.archivedAt)}</small>
        ${canChange && html` <button type="button" class="secondary" onClick=${() => revive(f.name)}>Revive ${f.name}</button>`}</li>`)}</ul>`}<//>
  <//>`;
}

function Segments({ canChange }) {
  const state = useData(() => flagsApi('segments'), []);
  const [name, setName] = useState('');
  const [constraints, setConstraints] = useState([]);
  const act = useAction();
  const create = (e) => {
    e.preventDefault();
    act.run(async () => { await flagsApi('segments', { method: 'POST', body: { name, description: '', constraints } }); setName(''); setConstraints([]); state.reload(); });
  };
  const del = (id) => act.run(async () => { await flagsApi(`segments/${id}`, { method: 'DELETE' }); state.reload(); });
  return html`<${Section} title="Segments">
    <${Async} state=${state} isEmpty=${(d) => !d.segments.length} empty="No segments yet.">${(d) => html`<div class="table-wrap" tabindex="0"><table>
      <thead><tr><th scope="col">Segment</th><th scope="col">Constraints</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${d.segments.map((s) => html`<tr><th scope="row">${s.name} <small>#${s.id}</small></th>
        <td>${(s.constraints || []).map((c) => html`<code>${c.contextName} ${c.inverted ? 'NOT ' : ''}${c.operator} ${(c.values || [c.value]).join(', ')}</code> `)}</td>
        <td>${canChange && html`<button type="button" class="danger" onClick=${() => del(s.id)}>Delete ${s.name}</button>`}</td></tr>`)}</tbody>
    </table></div>`}<//>
    ${canChange && html`<form onSubmit=${create}>
      <h3>New segment</h3>
      <${Field} label="Segment name" id="seg-name"><input id="seg-name" value=${name} onInput=${(e) => setName(e.target.value)} required /><//>
      <${ConstraintsEditor} idPrefix="seg" constraints=${constraints} onChange=${setConstraints} disabled=${false} />
      <button type="submit" disabled=${act.busy}>Create segment</button>
    </form>`}
    <${ErrorBox} error=${act.error} />
  <//>`;
}

function Tokens({ canChange }) {
  const state = useData(() => flagsApi('api-tokens'), []);
  const [tokenName, setTokenName] = useState('');
  const [type, setType] = useState('client');
  const [environment, setEnvironment] = useState('development');
  const [created, setCreated] = useState(null);
  const act = useAction();
  const create = (e) => {
    e.preventDefault();
    act.run(async () => {
      const body = { tokenName, type, projects: ['*'] };
      if (type !== 'admin') body.environment = environment;
      const t = await flagsApi('api-tokens', { method: 'POST', body });
      setCreated(t.secret); setTokenName(''); state.reload();
    });
  };
  const del = (secret) => act.run(async () => { await flagsApi(`api-tokens/${enc(secret)}`, { method: 'DELETE' }); state.reload(); });
  return html`<${Section} title="API tokens">
    <${Async} state=${state} isEmpty=${(d) => !d.tokens.length} empty="No API tokens.">${(d) => html`<div class="table-wrap" tabindex="0"><table>
      <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Environment</th><th scope="col">Projects</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${d.tokens.map((t) => html`<tr><th scope="row">${t.tokenName || t.username || '—'}</th><td>${t.type}</td><td>${t.environment}</td>
        <td>${(t.projects || [t.project]).join(', ')}</td><td><small>${fmtTime(t.createdAt)}</small></td>
        <td>${canChange && t.secret && html`<button type="button" class="danger" onClick=${() => del(t.secret)}>Delete ${t.tokenName || 'token'}</button>`}</td></tr>`)}</tbody>
    </table></div>`}<//>
    ${canChange && html`<form class="inline" onSubmit=${create}>
      <${Field} label="Token name" id="tok-name"><input id="tok-name" value=${tokenName} onInput=${(e) => setTokenName(e.target.value)} required /><//>
      <${Field} label="Token type" id="tok-type"><select id="tok-type" value=${type} onChange=${(e) => setType(e.target.value)}>
        <option value="client">backend (client)</option><option value="frontend">frontend</option><option value="admin">admin</option></select><//>
      ${type !== 'admin' && html`<${Field} label="Environment" id="tok-env"><input id="tok-env" value=${environment} onInput=${(e) => setEnvironment(e.target.value)} /><//>`}
      <button type="submit" disabled=${act.busy}>Create token</button>
    </form>`}
    ${created && html`<p role="status">New token (shown once): <code>${created}</code></p>`}
    <${ErrorBox} error=${act.error} />
  <//>`;
}

function FlagList({ session }) {
  const canChange = session.role === 'admin';
  const state = useData(async () => {
    const [f, e] = await Promise.all([flagsApi('projects/default/features'), flagsApi('environments')]);
    return { features: f.features, envs: e.environments.filter((x) => x.enabled !== false) };
  }, [], 10000);
  const events = useData(() => flagsApi('events'), [], 10000);
  return html`<h1>Flags</h1>
    <${CreateFlag} canChange=${canChange} onCreated=${() => state.reload()} />
    <${Async} state=${state}>${(d) => html`<${FlagTable} features=${d.features} envs=${d.envs} canChange=${canChange} reload=${state.reload} />`}<//>
    <${Archived} canChange=${canChange} reload=${state.reload} />
    <${Segments} canChange=${canChange} />
    <${Tokens} canChange=${canChange} />
    <${Section} title="Event log">
      <${Async} state=${events} isEmpty=${(d) => !d.events.length} empty="No events yet.">${(d) => html`<${EventList} events=${d.events.slice(0, 50)} />`}<//>
    <//>`;
}

function Flags({ params, session }) {
  if (params[0]) return html`<${FlagDetail} name=${params[0]} session=${session} />`;
  return html`<${FlagList} session=${session} />`;
}

export default { id: 'flags', title: 'Flags', component: Flags };
