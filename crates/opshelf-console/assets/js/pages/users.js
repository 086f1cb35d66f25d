// Users: admins add people as admin or viewer, change roles and passwords.
import { html, useState, useData, Async, Section, Field, ErrorBox, useAction, fmtTime } from '../ui.js';
import { api } from '../api.js';

function Users({ session }) {
  const state = useData(() => api('/console/api/users'), []);
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState('viewer');
  const act = useAction();
  const create = (e) => {
    e.preventDefault();
    act.run(async () => { await api('/console/api/users', { method: 'POST', body: { name, password, role } }); setName(''); setPassword(''); state.reload(); });
  };
  const setUserRole = (u, r) => act.run(async () => { await api(`/console/api/users/${encodeURIComponent(u)}`, { method: 'PUT', body: { role: r } }); state.reload(); });
  const del = (u) => act.run(async () => { await api(`/console/api/users/${encodeURIComponent(u)}`, { method: 'DELETE' }); state.reload(); });
  return html`<h1>Users</h1>
    <${ErrorBox} error=${act.error} />
    <${Section} title="People">
      <${Async} state=${state} isEmpty=${(d) => !d.users.length} empty="No users.">${(d) => html`<div class="table-wrap" tabindex="0"><table>
        <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${d.users.map((u) => html`<tr><th scope="row">${u.name}${u.name === session.user ? ' (you)' : ''}</th>
          <td><label class="sr-only" for=${`role-${u.name}`}>Role of ${u.name}</label><select id=${`role-${u.name}`} value=${u.role} onChange=${(e) => setUserRole(u.name, e.target.value)}>
            <option value="admin">admin</option><option value="viewer">viewer</option></select></td>
          <td><small>${fmtTime(u.created_ms)}</small></td>
          <td>${u.name !== session.user && html`<button type="button" class="danger" onClick=${() => del(u.name)}>Delete ${u.name}</button>`}</td></tr>`)}</tbody>
      </table></div>`}<//>
    <//>
    <${Section} title="Add a user">
      <form class="inline" onSubmit=${create}>
        <${Field} label="User name" id="new-user"><input id="new-user" value=${name} onInput=${(e) => setName(e.target.value)} required autocomplete="off" /><//>
        <${Field} label="Password (8+ characters)" id="new-pass"><input id="new-pass" type="password" value=${password} onInput=${(e) => setPassword(e.target.value)} required minlength="8" autocomplete="new-password" /><//>
        <${Field} label="Role" id="new-role"><select id="new-role" value=${role} onChange=${(e) => setRole(e.target.value)}><option value="viewer">viewer</option><option value="admin">admin</option></select><//>
        <button type="submit" disabled=${act.busy}>Add user</button>
      </form>
    <//>`;
}

export default { id: 'users', title: 'Users', component: Users, adminOnly: true };
