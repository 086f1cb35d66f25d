// The shell: sign-in, navigation from the page registry, hash routes (#/flags/my-flag).
import { html, render, useState, useEffect, useRef, Loading, ErrorBox, useAction, Field } from './ui.js';
import { api, setCsrf, onUnauthenticated } from './api.js';
import { pages } from './pages/index.js';

const home = document.querySelector('meta[name="opshelf-home"]')?.content || 'overview';

function route() {
  const parts = (location.hash.replace(/^#\/?/, '') || home).split('/').map(decodeURIComponent);
  const page = pages.find((p) => p.id === parts[0]) || pages[0];
  return { page, params: parts.slice(1) };
}

function Login({ onDone }) {
  const [username, setUser] = useState('admin');
  const [password, setPass] = useState('');
  const act = useAction();
  const submit = (e) => {
    e.preventDefault();
    act.run(async () => {
      const s = await api('/console/api/login', { method: 'POST', body: { username, password } });
      setCsrf(s.csrf);
      onDone(s);
    });
  };
  return html`<main id="main" class="login">
    <h1>opshelf console</h1>
    <form onSubmit=${submit} class="card" aria-label="Sign in">
      <${Field} label="User name" id="login-user"><input id="login-user" name="username" autocomplete="username" value=${username} onInput=${(e) => setUser(e.target.value)} required /><//>
      <${Field} label="Password" id="login-pass"><input id="login-pass" name="password" type="password" autocomplete="current-password" value=${password} onInput=${(e) => setPass(e.target.value)} required /><//>
      <button type="submit" disabled=${act.busy}>${act.busy ? 'Signing in…' : 'Sign in'}</button>
      <${ErrorBox} error=${act.error} />
    </form>
  </main>`;
}

function Shell({ session, onSignOut }) {
  const [r, setR] = useState(route());
  const [menu, setMenu] = useState(false);
  const heading = useRef(null);
  useEffect(() => {
    const on = () => { setR(route()); setMenu(false); };
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  useEffect(() => {
    document.title = `${r.page.title} · opshelf`;
    const h1 = document.querySelector('main h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
  }, [r.page.id, r.params.join('/')]);
  const signOut = async () => {
    try { await api('/console/api/logout', { method: 'POST' }); } finally { onSignOut(); }
  };
  const Page = r.page.component;
  const visible = pages.filter((p) => !p.adminOnly || session.role === 'admin');
  return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand" ref=${heading}>opshelf</span>
      <button type="button" class="menu-btn" aria-expanded=${menu} aria-controls="nav" onClick=${() => setMenu(!menu)}>Menu</button>
      <nav id="nav" aria-label="Pages" class=${menu ? 'open' : ''}>
        <ul>${visible.map((p) => html`<li><a href=${`#/${p.id}`} aria-current=${p.id === r.page.id ? 'page' : undefined}>${p.title}</a></li>`)}</ul>
      </nav>
      <span class="who">${session.user} <span class="muted">(${session.role})</span>
        <button type="button" class="link" onClick=${signOut}>Sign out</button></span>
    </header>
    <main id="main" tabindex="-1"><${Page} params=${r.params} session=${session} /></main>`;
}

function App() {
  const [session, setSession] = useState(undefined);
  const [error, setError] = useState(null);
  const load = () => api('/console/api/session')
    .then((s) => { setCsrf(s.csrf); setSession(s); })
    .catch((e) => { if (e.status === 401) setSession(null); else setError(e); });
  useEffect(() => { onUnauthenticated(() => setSession(null)); load(); }, []);
  if (error) return html`<main id="main"><h1>opshelf console</h1><${ErrorBox} error=${error} retry=${() => { setError(null); load(); }} /></main>`;
  if (session === undefined) return html`<main id="main"><${Loading} what="Checking your session" /></main>`;
  if (session === null) return html`<${Login} onDone=${setSession} />`;
  return html`<${Shell} session=${session} onSignOut=${() => { setCsrf(null); setSession(null); }} />`;
}

render(html`<${App} />`, document.getElementById('app'));
