// Real Unleash clients against a running opshelf (started by ./run).
//
// 1. Every case of ../shared/unleash-spec/specifications: the file's state is imported into
//    its own environment (spec01, spec02, ...) through the admin API (delta-event files 19-20
//    through the same endpoint: opshelf converts {"events": [...]} to the state they describe),
//    then each test's context is evaluated
//      a. over HTTP: POST /api/frontend (enabled flags) and POST /api/frontend/all (all flags);
//      b. by the real `unleash-client` SDK (Node), pointed at /api/ with a backend token.
// 2. SDK behaviour: unleash-client and unleash-proxy-client (the browser SDK, run under Node):
//    isEnabled, getVariant, a 304 on refresh, metrics accepted, a flag toggled through the
//    admin API reaching the SDK on its next poll.
//
// Prints one line per failure ("FAIL <id>"), writes failed ids to $FAILED_FILE, and the
// counts as the last line "RESULT <passed> <failed>" (./run turns it into the closing line).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Unleash } = require('unleash-client');
const { UnleashClient, InMemoryStorageProvider } = require('unleash-proxy-client');

const BASE = process.env.FLAGS_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const SPEC_DIR = process.env.SPEC_DIR;
const FAILED_FILE = process.env.FAILED_FILE;

let passed = 0;
const failed = [];

function check(id, ok, detail) {
  if (ok) {
    passed += 1;
  } else {
    failed.push(id);
    console.log(`FAIL ${id}${detail ? `: ${detail}` : ''}`);
  }
}

async function api(method, p, token, body) {
  const res = await fetch(BASE + p, {
    method,
    headers: { authorization: token, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, json, headers: res.headers };
}

async function token(type, environment, name) {
  const r = await api('POST', '/api/admin/api-tokens', ADMIN, { tokenName: name, type, environment, projects: ['*'] });
  if (r.status !== 201) throw new Error(`token ${type}/${environment}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.secret;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitFor(emitter, event, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    emitter.once(event, (...args) => { clearTimeout(t); resolve(args); });
  });
}

function sameVariant(got, want) {
  if (!got) return false;
  if (got.name !== want.name || got.enabled !== want.enabled) return false;
  if ('payload' in want && JSON.stringify(got.payload) !== JSON.stringify(want.payload)) return false;
  const fe = got.feature_enabled ?? got.featureEnabled;
  if ('feature_enabled' in want && fe !== want.feature_enabled) return false;
  return true;
}

async function specifications() {
  const index = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, 'index.json'), 'utf8'));
  for (const file of index) {
    const spec = JSON.parse(fs.readFileSync(path.join(SPEC_DIR, file), 'utf8'));
    const env = `spec${file.slice(0, 2)}`;
    const imp = await api('POST', `/api/admin/opshelf/import?project=default&environment=${env}`, ADMIN, spec.state);
    if (imp.status !== 200) {
      check(`${file} import`, false, `${imp.status} ${JSON.stringify(imp.json)}`);
      continue;
    }
    const front = await token('frontend', env, `compat-frontend-${env}`);
    const back = await token('client', env, `compat-backend-${env}`);

    // a. over HTTP
    for (const t of spec.tests || []) {
      const id = `${file} | ${t.description}`;
      const en = await api('POST', '/api/frontend', front, { context: t.context });
      const inEnabled = (en.json.toggles || []).some((x) => x.name === t.toggleName && x.enabled === true);
      check(`http-frontend | ${id}`, en.status === 200 && inEnabled === t.expectedResult, `got ${inEnabled}`);
      const all = await api('POST', '/api/frontend/all', front, { context: t.context });
      const row = (all.json.toggles || []).find((x) => x.name === t.toggleName);
      const got = row ? row.enabled === true : false;
      check(`http-frontend-all | ${id}`, all.status === 200 && got === t.expectedResult, `got ${got}`);
    }
    for (const t of spec.variantTests || []) {
      const id = `${file} | ${t.description}`;
      const all = await api('POST', '/api/frontend/all', front, { context: t.context });
      const row = (all.json.toggles || []).find((x) => x.name === t.toggleName);
      const v = row ? row.variant : { name: 'disabled', enabled: false, feature_enabled: false };
      check(`http-frontend-all-variant | ${id}`, all.status === 200 && sameVariant(v, t.expectedResult), JSON.stringify(v));
    }

    // b. the real Node SDK
    const sdk = new Unleash({
      url: `${BASE}/api/`,
      appName: `compat-${env}`,
      customHeaders: { Authorization: back },
      refreshInterval: 60_000,
      disableMetrics: true,
    });
    sdk.on('error', () => {});
    sdk.on('warn', () => {});
    try {
      await waitFor(sdk, 'synchronized', 10_000);
    } catch (e) {
      check(`sdk ${file} synchronized`, false, e.message);
      sdk.destroy();
      continue;
    }
    for (const t of spec.tests || []) {
      const got = sdk.isEnabled(t.toggleName, t.context);
      check(`sdk-isEnabled | ${file} | ${t.description}`, got === t.expectedResult, `got ${got}`);
    }
    for (const t of spec.variantTests || []) {
      const v = sdk.getVariant(t.toggleName, t.context);
      check(`sdk-getVariant | ${file} | ${t.description}`, sameVariant(v, t.expectedResult), JSON.stringify(v));
    }
    sdk.destroy();
  }
}

async function adminSetup() {
  const env = 'sdkcheck';
  let r = await api('POST', '/api/admin/environments', ADMIN, { name: env, type: 'development' });
  check('admin creates an environment', r.status === 201, `${r.status}`);
  r = await api('POST', '/api/admin/projects/default/features', ADMIN, { name: 'compat.toggle', type: 'release' });
  check('admin creates a flag', r.status === 201, `${r.status}`);
  r = await api('POST', `/api/admin/projects/default/features/compat.toggle/environments/${env}/strategies`, ADMIN, {
    name: 'flexibleRollout',
    parameters: { rollout: '100', stickiness: 'default', groupId: 'compat.toggle' },
    constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro'] }],
    variants: [{ name: 'green', weight: 1000, stickiness: 'default', payload: { type: 'string', value: 'g' } }],
  });
  check('admin adds a strategy', r.status === 200, `${r.status} ${JSON.stringify(r.json)}`);
  r = await api('POST', `/api/admin/projects/default/features/compat.toggle/environments/${env}/on`, ADMIN, {});
  check('admin turns the flag on', r.status === 200, `${r.status}`);
  return env;
}

async function toggle(env, on) {
  const r = await api('POST', `/api/admin/projects/default/features/compat.toggle/environments/${env}/${on ? 'on' : 'off'}`, ADMIN, {});
  if (r.status !== 200) throw new Error(`toggle: ${r.status}`);
}

async function nodeSdk(env) {
  const back = await token('client', env, 'compat-node-sdk');
  const sdk = new Unleash({
    url: `${BASE}/api/`,
    appName: 'compat-node',
    customHeaders: { Authorization: back },
    refreshInterval: 300,
    metricsInterval: 300,
  });
  const errors = [];
  const seen = { unchanged: 0, sent: 0 };
  sdk.on('error', (e) => errors.push(String(e && e.message ? e.message : e)));
  sdk.on('warn', (e) => errors.push(String(e && e.message ? e.message : e)));
  sdk.on('unchanged', () => { seen.unchanged += 1; });
  sdk.on('sent', () => { seen.sent += 1; });
  try {
    await waitFor(sdk, 'synchronized', 10_000);
    const ctx = { userId: '42', properties: { plan: 'pro' } };
    check('node sdk isEnabled', sdk.isEnabled('compat.toggle', ctx) === true);
    check('node sdk isEnabled false by constraint', sdk.isEnabled('compat.toggle', { userId: '42', properties: { plan: 'free' } }) === false);
    const v = sdk.getVariant('compat.toggle', ctx);
    check('node sdk getVariant', v.name === 'green' && v.enabled && v.payload && v.payload.value === 'g', JSON.stringify(v));
    const deadline = Date.now() + 5_000;
    while ((seen.unchanged === 0 || seen.sent === 0) && Date.now() < deadline) await sleep(50);
    check('node sdk gets a 304 on refresh (unchanged)', seen.unchanged > 0);
    check('node sdk metrics accepted (sent)', seen.sent > 0, errors.join('; '));
    await sleep(100);
    const usage = await api('GET', '/api/admin/client-metrics/features/compat.toggle', ADMIN);
    const row = (usage.json.data || []).find((d) => d.appName === 'compat-node');
    check('node sdk metrics stored per flag and app', !!row && row.yes >= 2 && row.no >= 1, JSON.stringify(usage.json));
    const changed = waitFor(sdk, 'changed', 5_000);
    await toggle(env, false);
    await changed.catch(() => {});
    check('node sdk sees an admin toggle on its next poll', sdk.isEnabled('compat.toggle', ctx) === false);
    await toggle(env, true);
    check('node sdk raised no errors', errors.length === 0, errors.join('; '));
  } catch (e) {
    check('node sdk flow', false, e.message);
  } finally {
    sdk.destroy();
  }
}

async function proxySdk(env) {
  const front = await token('frontend', env, 'compat-proxy-sdk');
  const statuses = [];
  const recordingFetch = async (url, opts) => {
    const res = await fetch(url, opts);
    if (String(url).includes('/api/frontend') && !String(url).includes('/client/')) statuses.push(res.status);
    return res;
  };
  const client = new UnleashClient({
    url: `${BASE}/api/frontend`,
    clientKey: front,
    appName: 'compat-browser',
    refreshInterval: 1,
    metricsInterval: 1,
    storageProvider: new InMemoryStorageProvider(),
    fetch: recordingFetch,
    context: { userId: '42', properties: { plan: 'pro' } },
  });
  const errors = [];
  let sent = 0;
  client.on('error', (e) => errors.push(String(e && e.message ? e.message : JSON.stringify(e))));
  client.on('sent', () => { sent += 1; });
  try {
    const ready = waitFor(client, 'ready', 10_000);
    await client.start();
    await ready;
    check('proxy sdk isEnabled', client.isEnabled('compat.toggle') === true);
    const v = client.getVariant('compat.toggle');
    check('proxy sdk getVariant', v.name === 'green' && v.enabled && v.payload && v.payload.value === 'g', JSON.stringify(v));
    const deadline = Date.now() + 5_000;
    while (!statuses.includes(304) && Date.now() < deadline) await sleep(100);
    check('proxy sdk gets a 304 on refresh', statuses.includes(304), JSON.stringify(statuses));
    const until = Date.now() + 5_000;
    while (sent === 0 && Date.now() < until) await sleep(50);
    check('proxy sdk metrics accepted (sent)', sent > 0, errors.join('; '));
    const updated = waitFor(client, 'update', 5_000);
    await toggle(env, false);
    await updated.catch(() => {});
    check('proxy sdk sees an admin toggle on its next poll', client.isEnabled('compat.toggle') === false);
    await client.updateContext({ userId: '42', properties: { plan: 'free' } });
    await toggle(env, true);
    await sleep(1500);
    check('proxy sdk context change re-evaluates on the server', client.isEnabled('compat.toggle') === false);
    check('proxy sdk raised no errors', errors.length === 0, errors.join('; '));
  } catch (e) {
    check('proxy sdk flow', false, e.message);
  } finally {
    client.stop();
  }
}

async function main() {
  const health = await fetch(`${BASE}/health`).then((r) => r.json());
  check('GET /health', health.health === 'GOOD', JSON.stringify(health));
  await specifications();
  const env = await adminSetup();
  await nodeSdk(env);
  await proxySdk(env);
  fs.writeFileSync(FAILED_FILE, failed.map((f) => `${f}\n`).join(''));
  console.log(`RESULT ${passed} ${failed.length}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(`FAIL harness: ${e && e.stack ? e.stack : e}`);
    fs.writeFileSync(FAILED_FILE, [...failed, 'harness'].map((f) => `${f}\n`).join(''));
    console.log(`RESULT ${passed} ${failed.length + 1}`);
    process.exit(0);
  },
);
