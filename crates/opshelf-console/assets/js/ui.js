// Shared UI pieces: htm bound to Preact, the data hook with loading/error states, tables.
import { h, render, Fragment } from '../vendor/preact.module.js';
import { useState, useEffect, useRef, useCallback } from '../vendor/hooks.module.js';
import htm from '../vendor/htm.module.js';

export const html = htm.bind(h);
export { h, render, Fragment, useState, useEffect, useRef, useCallback };

// Load `fn()` now, again when `deps` change and every `pollMs` (0: never).
export function useData(fn, deps = [], pollMs = 0) {
  const [state, set] = useState({ loading: true, error: null, data: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer = null;
    const run = async () => {
      try {
        const data = await fn();
        if (live) set({ loading: false, error: null, data });
      } catch (e) {
        if (live) set((s) => ({ loading: false, error: e, data: s.data }));
      }
      if (live && pollMs) timer = setTimeout(run, pollMs);
    };
    run();
    return () => { live = false; clearTimeout(timer); };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

export function Loading({ what = 'Loading' }) {
  return html`<p class="state loading" role="status">${what}…</p>`;
}

export function ErrorBox({ error, retry }) {
  if (!error) return null;
  return html`<div class="state error" role="alert">
    <strong>Something went wrong.</strong> ${error.message || String(error)}
    ${retry && html` <button type="button" onClick=${retry}>Try again</button>`}
  </div>`;
}

export function Empty({ children }) {
  return html`<p class="state empty">${children}</p>`;
}

// Loading / error / empty / content, in that order.
export function Async({ state, empty, isEmpty, children }) {
  if (state.loading && !state.data) return html`<${Loading} />`;
  if (state.error && !state.data) return html`<${ErrorBox} error=${state.error} retry=${state.reload} />`;
  if (isEmpty && isEmpty(state.data)) return html`<${Empty}>${empty}<//>`;
  return html`${state.error && html`<${ErrorBox} error=${state.error} retry=${state.reload} />`}${children(state.data)}`;
}

export function Badge({ kind = 'neutral', children }) {
  return html`<span class=${`badge ${kind}`}>${children}</span>`;
}

export function stateKind(state) {
  return { up: 'ok', degraded: 'warn', down: 'bad', starting: 'warn', disabled: 'neutral' }[state] || 'neutral';
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)} ${u[i]}`;
}

export function fmtTime(ms) {
  if (!ms) return '—';
  const d = typeof ms === 'number' ? new Date(ms) : new Date(ms);
  return d.toLocaleString();
}

export function fmtNum(v, digits = 1) {
  if (v === null || v === undefined) return '—';
  return Number.isInteger(v) ? String(v) : v.toFixed(digits);
}

// A form action: runs `fn`, shows its error, reports busy.
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (fn) => {
    setBusy(true); setError(null);
    try { return await fn(); } catch (e) { setError(e); return undefined; } finally { setBusy(false); }
  };
  return { busy, error, run, clear: () => setError(null) };
}

export function Field({ label, id, children, hint }) {
  return html`<div class="field"><label for=${id}>${label}</label>${children}${hint && html`<small id=${`${id}-hint`}>${hint}</small>`}</div>`;
}

export function Section({ title, children, actions, id }) {
  const hid = id || `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return html`<section class="card" aria-labelledby=${hid}>
    <div class="card-head"><h2 id=${hid}>${title}</h2>${actions}</div>
    ${children}
  </section>`;
}
