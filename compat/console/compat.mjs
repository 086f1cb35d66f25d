// The console in headless Debian Chromium (puppeteer-core), against a real opshelf with
// flags, secrets, the WAF, traces and logs; the unleash-client SDK watches the flags it
// changes; `opshelf scan fs --upload` posts a report. Prints "N passed, N failed" last.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';
import { initialize } from 'unleash-client';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const E = process.env;
const CONSOLE = E.CONSOLE_URL; const FLAGS = E.FLAGS_URL; const WAF = E.WAF_URL; const VAULT = E.VAULT_URL;
const PASSWORD = E.ADMIN_PASSWORD; const WORK = E.WORK; const SHOTS = `${WORK}/screenshots`;
const OTLP = E.OTLP_HTTP_URL; const JAEGER = E.JAEGER_URL; const LOKI = E.LOKI_URL;
const PHONE = { width: 390, height: 844 }; const DESKTOP = { width: 1280, height: 900 };
mkdirSync(SHOTS, { recursive: true });

let passed = 0; let failed = 0;
const failures = [];
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed += 1;
    failures.push(name);
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function http(url, opts = {}) {
  const r = await fetch(url, { redirect: 'manual', ...opts });
  const text = await r.text();
  let json = null; try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

const browser = await puppeteer.launch({
  executablePath: E.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  userDataDir: `${WORK}/chromium-profile`,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 900 });
const pageErrors = [];
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
page.on('pageerror', (e) => pageErrors.push(String(e)));

async function textOf(sel) { return page.$eval(sel, (el) => el.textContent); }
async function waitText(text, timeout = 5000) {
  await page.waitForFunction((t) => document.body && document.body.innerText.includes(t), { timeout }, text);
}
async function go(hash, heading) {
  await page.goto(`${CONSOLE}/${hash}`, { waitUntil: 'networkidle0' });
  await page.waitForFunction((h) => [...document.querySelectorAll('main h1')].some((e) => e.textContent.includes(h)), { timeout: 5000 }, heading);
  await page.waitForFunction(() => !document.querySelector('.state.loading'), { timeout: 5000 });
}
async function shot(name) { await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true }); }
// Nothing wider than the viewport (a table may scroll inside its own box).
async function noOverflow(name) {
  const over = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const wide = document.documentElement.scrollWidth > w + 1;
    // the innermost boxes past the right edge (outside boxes that scroll on their own)
    const past = (el) => el.getBoundingClientRect().right > w + 1 && !el.closest('.table-wrap') && !el.closest('.chart-box');
    const culprits = [...document.querySelectorAll('body *')]
      .filter((el) => past(el) && ![...el.children].some(past))
      .slice(0, 3).map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`);
    return wide || culprits.length ? `${document.documentElement.scrollWidth} > ${w}: ${culprits.join(', ')}` : '';
  });
  return over ? `${name} overflows: ${over}` : '';
}
async function axe(name) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert(bad.length === 0, `${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')}`).join('; ')}`);
}
async function clickText(selector, text) {
  const ok = await page.evaluate((s, t) => {
    const el = [...document.querySelectorAll(s)].find((e) => e.textContent.trim().includes(t));
    if (el) el.click();
    return !!el;
  }, selector, text);
  assert(ok, `no ${selector} with text ${text}`);
}

// ---------------------------------------------------------------- security without a session
await check('no API answers without a session', async () => {
  for (const p of ['overview', 'waf', 'scans', 'users', 'audit', 'session', 'proxy/flags/projects/default/features', 'proxy/secrets/mounts']) {
    const r = await http(`${CONSOLE}/console/api/${p}`);
    assert(r.status === 401, `${p}: ${r.status}`);
  }
  const r = await http(`${CONSOLE}/console/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x","password":"xxxxxxxxx","role":"admin"}' });
  assert(r.status === 401, `POST users: ${r.status}`);
});

await check('pages carry a strict CSP and gzip assets with ETags', async () => {
  const r = await http(`${CONSOLE}/`);
  const csp = r.headers.get('content-security-policy') || '';
  assert(csp.includes("default-src 'self'") && csp.includes("script-src 'self'") && !csp.includes('unsafe'), csp);
  assert(!/<script>/.test(r.text) && !/ on[a-z]+=/.test(r.text), 'inline script in the page');
  const a = await fetch(`${CONSOLE}/console/assets/js/app.js`, { headers: { 'accept-encoding': 'gzip' } });
  assert(a.headers.get('etag'), 'no etag');
  const again = await http(`${CONSOLE}/console/assets/js/app.js`, { headers: { 'if-none-match': a.headers.get('etag') } });
  assert(again.status === 304, `revalidation: ${again.status}`);
});

// ---------------------------------------------------------------- sign-in
let cookie = ''; let csrf = '';
await check('the session cookie is HttpOnly, SameSite=Strict, Path=/ (not Secure on plain HTTP)', async () => {
  const r = await http(`${CONSOLE}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  assert(r.status === 200, `login ${r.status} ${r.text}`);
  const sc = r.headers.get('set-cookie') || '';
  assert(/HttpOnly/.test(sc) && /SameSite=Strict/.test(sc) && /Path=\//.test(sc) && !/Secure/.test(sc), sc);
  cookie = sc.split(';')[0]; csrf = r.json.csrf;
});

await check('sign in through the form, then the overview', async () => {
  await page.goto(`${CONSOLE}/`, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#login-pass');
  await shot('00-sign-in');
  await axe('sign-in');
  await page.type('#login-pass', PASSWORD);
  await page.click('form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Overview', { timeout: 5000 });
  const cookies = await page.cookies();
  const c = cookies.find((x) => x.name === 'opshelf_console');
  assert(c && c.httpOnly && c.sameSite === 'Strict', JSON.stringify(c));
});

// ---------------------------------------------------------------- overview, then every page
async function cveCount() {
  await go('#/overview', 'Overview');
  return page.$eval('[data-metric="high_critical_cves"]', (el) => el.innerText);
}

// ---------------------------------------------------------------- flags
const sdk = initialize({
  url: `${FLAGS}/api/`, appName: 'console-compat', refreshInterval: 500, disableMetrics: true,
  customHeaders: { Authorization: E.CLIENT_TOKEN },
});
await new Promise((res) => { sdk.once('synchronized', res); sdk.once('error', res); setTimeout(res, 5000); });
function sdkChanged(pred, timeout = 5000) {
  return new Promise((res, rej) => {
    const t0 = Date.now();
    const tick = () => { if (pred()) return res(Date.now() - t0); if (Date.now() - t0 > timeout) return rej(new Error('the SDK did not see the change')); setTimeout(tick, 50); };
    tick();
  });
}

await check('create a flag and toggle it on; the unleash-client SDK sees it on its next poll', async () => {
  await go('#/flags', 'Flags');
  await page.type('#new-flag-name', 'console-demo');
  await page.type('#new-flag-desc', 'made in the console');
  await clickText('button', 'Create');
  await page.waitForSelector('#t-console-demo-development', { timeout: 5000 });
  assert(!sdk.isEnabled('console-demo'), 'on before the toggle');
  await page.click('#t-console-demo-development');
  await page.waitForFunction(() => document.querySelector('#t-console-demo-development')?.checked, { timeout: 5000 });
  const ms = await sdkChanged(() => sdk.isEnabled('console-demo'));
  console.log(`     SDK saw the toggle ${ms} ms after the click landed`);
  await shot('02-flags');
  await axe('flags');
});

await check('a gradual rollout moved to 50% reaches about half of 1,000 user ids', async () => {
  await page.goto(`${CONSOLE}/#/flags/console-demo`, { waitUntil: 'networkidle0' });
  await waitText('Environment development');
  // Turning the flag on added Unleash's default strategy (a 100% gradual rollout): move it.
  const form = await page.waitForSelector('form.strategy[aria-label="Strategy flexibleRollout in development"]');
  const slider = await form.$('input.rollout');
  // Keyboard, as a person would: focus the slider, Home (0%), then 50 steps right.
  await slider.focus();
  await page.keyboard.press('Home');
  for (let i = 0; i < 50; i += 1) await page.keyboard.press('ArrowRight');
  const v = await slider.evaluate((el) => el.value);
  assert(v === '50', `slider at ${v}`);
  const stick = await form.$('select[id$="-stick"]');
  assert(stick && (await form.$('input[id$="-group"]')), 'no stickiness / group id fields');
  await (await form.$('button[type=submit]')).click();
  const count = () => { let n = 0; for (let i = 0; i < 1000; i += 1) if (sdk.isEnabled('console-demo', { userId: `user-${i}` })) n += 1; return n; };
  await sdkChanged(() => count() < 1000);
  const n = count();
  console.log(`     ${n} of 1000 user ids get it`);
  assert(n > 400 && n < 600, `${n} of 1000`);
  await shot('03-flag-detail');
  await axe('flag detail');
});

await check('the flag event log shows the changes with diffs', async () => {
  await page.goto(`${CONSOLE}/#/flags/console-demo`, { waitUntil: 'networkidle0' });
  await waitText('feature-strategy-update');
  await clickText('.events summary', 'Changes');
  await page.waitForSelector('.diff .add');
  await waitText('feature-environment-enabled');
});

await check('the same UI opens on the Flags page at / of the flags listener', async () => {
  const r = await http(`${FLAGS}/`);
  assert(r.status === 200 && r.text.includes('content="flags"'), `${r.status}`);
  const api = await http(`${FLAGS}/api/client/features`, { headers: { Authorization: E.CLIENT_TOKEN } });
  assert(api.status === 200 && api.json.features, `the flags API still answers: ${api.status}`);
  await page.goto(`${FLAGS}/`, { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Flags', { timeout: 5000 });
  await waitText('console-demo');
});

await check('the same UI opens on the Traces page at / of the Jaeger listener (:16686)', async () => {
  const r = await http(`${JAEGER}/`);
  assert(r.status === 200 && r.text.includes('content="traces"'), `${r.status}`);
  const api = await http(`${JAEGER}/api/services`);
  assert(api.status === 200 && Array.isArray(api.json.data), `the Jaeger API still answers: ${api.status}`);
  await page.goto(`${JAEGER}/`, { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Traces', { timeout: 5000 });
});

// ---------------------------------------------------------------- WAF
await check('an attack through the WAF is on the WAF page within 2 s', async () => {
  await go('#/waf', 'WAF');
  await shot('04-waf-before');
  const marker = `console${Date.now()}`;
  const r = await http(`${WAF}/search?${marker}=%3Cscript%3Ealert(1)%3C/script%3E`);
  assert(r.status === 403, `the WAF answered ${r.status}`);
  const t0 = Date.now();
  await page.waitForFunction((m) => document.querySelector('#recent-blocked')?.innerText.includes(m), { timeout: 2000 }, marker);
  console.log(`     on the page ${Date.now() - t0} ms after the block`);
  await clickText('#recent-blocked summary', marker);
  await waitText('Matched');
  await shot('04-waf');
  await axe('waf');
});

await check('the WAF page shows the routes\' modes, rate-limited addresses and the rule set\'s load time', async () => {
  const detected = await http(`${WAF}/report/search?q=%3Cscript%3Ealert(1)%3C/script%3E`);
  assert(detected.status === 200, `the detection-only route answered ${detected.status}`);
  const codes = [];
  for (let i = 0; i < 3; i += 1) codes.push((await http(`${WAF}/limited/x`)).status);
  assert(codes.join(',') === '200,200,429', `rate limit: ${codes}`);
  await go('#/waf', 'WAF');
  await page.waitForFunction(() => {
    const t = document.querySelector('#waf-routes')?.innerText || '';
    return t.includes('/report') && t.includes('detection only') && t.includes('blocking');
  }, { timeout: 3000 });
  await page.waitForFunction(() => (document.querySelector('#rate-limited')?.innerText || '').includes('/limited'), { timeout: 3000 });
  await waitText('rules in use, loaded');
  await waitText('detected but let through (detection only) 1');
  await shot('04-waf');
  await axe('waf (routes)');
});

await check('the overview counts a detection-only attack as let through, not blocked', async () => {
  await go('#/overview', 'Overview');
  const t = await page.$eval('[data-metric="attacks_blocked"]', (el) => el.innerText);
  assert(/\b50(\.0)?%/.test(t) && /1 blocked, 1 detected but let through/.test(t), t);
});

// ---------------------------------------------------------------- scans
await check('uploading a scan report changes the overview CVE count', async () => {
  const before = await cveCount();
  await shot('01-overview');
  await axe('overview');
  const report = { SchemaVersion: 2, Results: [{ Target: 'Cargo.lock', Class: 'lang-pkgs', Type: 'cargo', Vulnerabilities: [
    { VulnerabilityID: 'RUSTSEC-2099-0001', PkgName: 'demo', InstalledVersion: '0.1.0', FixedVersion: '0.1.1', Severity: 'CRITICAL', Title: 'demo critical' },
    { VulnerabilityID: 'RUSTSEC-2099-0002', PkgName: 'demo', InstalledVersion: '0.1.0', FixedVersion: '0.1.2', Severity: 'HIGH', Title: 'demo high' },
    { VulnerabilityID: 'RUSTSEC-2099-0003', PkgName: 'demo', InstalledVersion: '0.1.0', Severity: 'LOW', Title: 'demo low' }] },
  { Target: 'config/app.env', Class: 'secret', Secrets: [{ RuleID: 'aws-access-key-id', Category: 'AWS', Severity: 'CRITICAL', Title: 'AWS Access Key ID', StartLine: 2 }] }] };
  const file = `${WORK}/report.json`;
  writeFileSync(file, JSON.stringify(report));
  await go('#/scans', 'Scans');
  await page.type('#scan-repo', 'acme/api');
  const input = await page.$('#scan-file');
  await input.uploadFile(file);
  await clickText('button', 'Upload');
  await waitText('acme/api · main');
  await waitText('gate fails');
  await clickText('button', 'Show findings');
  await waitText('RUSTSEC-2099-0001');
  await shot('05-scans');
  await axe('scans');
  const after = await cveCount();
  assert(before !== after && /\b2\b/.test(after), `before: ${before} | after: ${after}`);
});

await check('opshelf scan fs --upload posts a report the Scans page shows; a wrong token fails the command', async () => {
  const dir = `${WORK}/cli-repo`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/deploy.env`, `GITHUB_TOKEN=ghp_${'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'}\n`);
  const scan = (token) => spawnSync(E.OPSHELF_BIN, ['--config', `${WORK}/cli.toml`, '--data-dir', `${WORK}/cli-data`, 'scan', 'fs', dir,
    '--scanners', 'secret', '--format', 'json', '--quiet', '--upload', CONSOLE, '--repo', 'acme/cli', '--branch', 'main'],
  { env: { ...process.env, OPSHELF_UPLOAD_TOKEN: token }, encoding: 'utf8' });
  const bad = scan('not-the-upload-token-at-all');
  assert(bad.status !== 0 && /refused the upload/.test(bad.stderr) && JSON.parse(bad.stdout).Results, `wrong token: ${bad.status} ${bad.stderr}`);
  const ok = scan(E.UPLOAD_TOKEN);
  assert(ok.status === 0 && /uploaded to/.test(ok.stderr), `upload: ${ok.status} ${ok.stderr}`);
  await go('#/scans', 'Scans');
  await waitText('acme/cli · main');
});

// ---------------------------------------------------------------- secrets
await check('unseal a sealed vault from the Secrets page', async () => {
  const init = await http(`${VAULT}/v1/sys/init`, { method: 'PUT', body: JSON.stringify({ secret_shares: 3, secret_threshold: 2 }) });
  assert(init.status === 200, `init ${init.status} ${init.text}`);
  const keys = init.json.keys;
  await go('#/secrets', 'Secrets');
  await waitText('sealed');
  await shot('06-secrets-sealed');
  await axe('secrets (sealed)');
  for (const k of keys.slice(0, 2)) {
    await page.waitForSelector('#unseal-key');
    await page.type('#unseal-key', k);
    await clickText('button', 'Submit key share');
    await sleep(300);
  }
  await waitText('unsealed');
  const s = await http(`${VAULT}/v1/sys/seal-status`);
  assert(s.json.sealed === false, 'still sealed');
  const root = init.json.root_token;
  const audit = await http(`${VAULT}/v1/sys/audit/compat`, { method: 'PUT', headers: { 'x-vault-token': root }, body: JSON.stringify({ type: 'file', options: { file_path: `${WORK}/vault-audit.log` } }) });
  assert(audit.status === 204, `enable audit: ${audit.status} ${audit.text}`);
  const counters = await http(`${VAULT}/v1/sys/internal/counters/tokens`, { headers: { 'x-vault-token': root } });
  const tokens = counters.json && counters.json.data.counters.service_tokens.total;
  assert(tokens >= 1, `counters: ${counters.status} ${counters.text}`);
  await page.type('#vault-token', root);
  await clickText('button', 'Sign in to Vault');
  await waitText('Secrets engines');
  await page.waitForFunction(() => !document.querySelector('.state.loading'), { timeout: 5000 });
  await waitText('token/');
  await page.waitForFunction((n) => document.querySelector('#token-count')?.textContent === String(n), { timeout: 5000 }, tokens);
  await page.waitForFunction(() => [...document.querySelectorAll('main tr')].some((r) => r.innerText.includes('compat/') && r.innerText.includes('writing')), { timeout: 8000 });
  await waitText('all writing', 8000);
  await shot('06-secrets');
  await axe('secrets');
});

// ---------------------------------------------------------------- traces and logs
const TRACE_ID = [...Array(32)].map(() => Math.floor(Math.random() * 16).toString(16)).join('');
const LOG_MARKER = `payment-failed-${Date.now()}`;
async function findTrace(suffix) {
  await go('#/traces', 'Traces');
  await page.waitForFunction(() => [...document.querySelectorAll('#tr-service option')].some((o) => o.value === 'compat-shop'), { timeout: 5000 });
  await page.select('#tr-service', 'compat-shop');
  await page.waitForFunction(() => [...document.querySelectorAll('#tr-op option')].some((o) => o.value === 'checkout'), { timeout: 5000 });
  await page.select('#tr-op', 'checkout');
  await page.type('#tr-tags', 'http.method=POST');
  await page.type('#tr-min', '100ms');
  await clickText('button', 'Find traces');
  await page.waitForFunction((id) => (document.querySelector('#trace-results')?.innerText || '').includes(id), { timeout: 5000 }, TRACE_ID);
  { const o = await noOverflow(`traces${suffix}`); assert(!o, o); }
  await shot(`10-traces${suffix}`);
  await axe(`traces${suffix}`);
  await page.click(`a[href="#/traces/${TRACE_ID}"]`);
  await page.waitForSelector('#waterfall li');
  const rows = await page.$$eval('#waterfall > li', (ls) => ls.map((l) => l.className + ' ' + l.querySelector('summary').innerText.replace(/\s+/g, ' ')));
  assert(rows.length === 2 && /depth-0/.test(rows[0]) && /checkout/.test(rows[0]) && /depth-1/.test(rows[1]) && /charge card/.test(rows[1]) && /error/.test(rows[1]), rows.join(' | '));
  // Keyboard: focus the child span's summary and open it with Enter.
  await page.focus('#waterfall > li:nth-child(2) summary');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => {
    const d = document.querySelector('#waterfall > li:nth-child(2) details');
    return d && d.open && d.innerText.includes('card declined') && d.innerText.includes('retry') && d.innerText.includes('payment.provider');
  }, { timeout: 3000 });
  { const o = await noOverflow(`trace${suffix}`); assert(!o, o); }
  await shot(`11-trace${suffix}`);
  await axe(`trace view${suffix}`);
}
async function findLog(suffix) {
  await go('#/logs', 'Logs');
  await page.waitForFunction(() => [...document.querySelectorAll('.labels button')].some((b) => b.textContent === 'app'), { timeout: 5000 });
  await clickText('.labels button', 'app');
  await page.waitForFunction(() => [...document.querySelectorAll('#label-values button')].some((b) => b.textContent === 'compat-console'), { timeout: 5000 });
  await clickText('#label-values button', 'compat-console');
  const q = await page.$eval('#logql', (t) => t.value);
  assert(q === '{app="compat-console"}', `query from the label browser: ${q}`);
  await page.type('#logql', ` |= "${LOG_MARKER}"`);
  await clickText('button', 'Run query');
  await page.waitForFunction((m) => (document.querySelector('#log-lines')?.innerText || '').includes(m), { timeout: 5000 }, LOG_MARKER);
  await page.waitForSelector('.chart-box canvas', { timeout: 5000 });
  await page.waitForFunction(() => (document.querySelector('.chart-box')?.getAttribute('aria-label') || '').includes(': 1 line over the range'), { timeout: 5000 })
    .catch(async () => { throw new Error(`log volume: ${await page.$eval('.chart-box', (e) => e.getAttribute('aria-label'))}`); });
  { const o = await noOverflow(`logs${suffix}`); assert(!o, o); }
  await shot(`12-logs${suffix}`);
  await axe(`logs${suffix}`);
}

await check('a trace pushed over OTLP/HTTP is found by service, operation, tag and duration, and shown as a waterfall', async () => {
  const now = BigInt(Date.now()) * 1000000n;
  const ns = (ms) => String(now - 1000000000n + BigInt(ms) * 1000000n);
  const attr = (k, v) => ({ key: k, value: { stringValue: v } });
  const body = { resourceSpans: [{ resource: { attributes: [attr('service.name', 'compat-shop')] }, scopeSpans: [{ scope: { name: 'compat' }, spans: [
    { traceId: TRACE_ID, spanId: 'a1a2a3a4a5a6a7a8', name: 'checkout', kind: 2, startTimeUnixNano: ns(0), endTimeUnixNano: ns(300), attributes: [attr('http.method', 'POST')], status: { code: 1 } },
    { traceId: TRACE_ID, spanId: 'b1b2b3b4b5b6b7b8', parentSpanId: 'a1a2a3a4a5a6a7a8', name: 'charge card', kind: 3, startTimeUnixNano: ns(50), endTimeUnixNano: ns(250),
      attributes: [attr('payment.provider', 'acme-pay')], events: [{ timeUnixNano: ns(100), name: 'retry', attributes: [attr('attempt', '2')] }],
      status: { code: 2, message: 'card declined' } },
  ] }] }] };
  const r = await http(`${OTLP}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert(r.status === 200, `OTLP push: ${r.status} ${r.text}`);
  await findTrace('');
});

await check('a log line pushed to Loki is found through the label browser and a LogQL query, with its volume', async () => {
  const ts = String(BigInt(Date.now()) * 1000000n);
  const r = await http(`${LOKI}/loki/api/v1/push`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ streams: [{ stream: { app: 'compat-console', level: 'error' }, values: [[ts, `checkout ${LOG_MARKER} card declined`]] }] }) });
  assert(r.status === 204, `Loki push: ${r.status} ${r.text}`);
  await findLog('');
});

// ---------------------------------------------------------------- the rest of the pages
await check('activity and users pages, and a phone-width overview', async () => {
  await go('#/activity', 'Activity');
  await waitText('scan.upload');
  await waitText('flags.POST');
  await shot('07-activity');
  await axe('activity');
  await go('#/users', 'Users');
  await shot('08-users');
  await axe('users');
});

// Filled by the phone pass, judged by its own check (so a known overflow hides no axe result).
const overflows = [];
await check('every page at phone width (390 px): axe-clean, screenshots, the menu by keyboard', async () => {
  await page.setViewport(PHONE);
  try {
    const pages = [['01-overview', '#/overview', 'Overview'], ['02-flags', '#/flags', 'Flags'], ['03-flag-detail', '#/flags/console-demo', 'console-demo'],
      ['04-waf', '#/waf', 'WAF'], ['05-scans', '#/scans', 'Scans'], ['06-secrets', '#/secrets', 'Secrets'], ['07-activity', '#/activity', 'Activity'], ['08-users', '#/users', 'Users']];
    for (const [name, hash, heading] of pages) {
      await go(hash, heading);
      const over = await noOverflow(name);
      if (over) overflows.push(over);
      await shot(`${name}-phone`);
      await axe(`${name} (phone)`);
    }
    // The menu opens with the keyboard at this width.
    await page.focus('.menu-btn');
    await page.keyboard.press('Enter');
    await page.waitForSelector('nav.open');
    await shot('09-menu-phone');
    await findTrace('-phone');
    await findLog('-phone');
  } finally {
    await page.setViewport(DESKTOP);
  }
});

await check('every page fits a 390 px screen (nothing wider than it but boxes that scroll)', async () => {
  assert(overflows.length === 0, overflows.join(' | '));
});

await check('no script error or CSP violation on any page', async () => {
  const bad = pageErrors.filter((e) => !/status of 40[13]/.test(e));
  assert(bad.length === 0, bad.slice(0, 5).join(' | '));
});

// ---------------------------------------------------------------- security with a session
const H = (extra = {}) => ({ 'content-type': 'application/json', cookie, ...extra });
await check('a change without the CSRF token, or from another origin, is refused', async () => {
  const body = JSON.stringify({ name: 'mallory', password: 'xxxxxxxxxx', role: 'admin' });
  let r = await http(`${CONSOLE}/console/api/users`, { method: 'POST', headers: H({ origin: 'http://evil.example' }), body });
  assert(r.status === 403, `cross-site without token: ${r.status}`);
  r = await http(`${CONSOLE}/console/api/users`, { method: 'POST', headers: H({ origin: 'http://evil.example', 'x-csrf-token': csrf }), body });
  assert(r.status === 403, `cross-site with the token: ${r.status}`);
  r = await http(`${CONSOLE}/console/api/proxy/flags/projects/default/features/console-demo/environments/development/off`, { method: 'POST', headers: H() });
  assert(r.status === 403, `no token: ${r.status}`);
  r = await http(`${CONSOLE}/console/api/users`, { method: 'POST', headers: H({ 'x-csrf-token': csrf }), body: JSON.stringify({ name: 'vera', password: 'viewer-pass-1', role: 'viewer' }) });
  assert(r.status === 201, `same-origin with the token: ${r.status} ${r.text}`);
});

await check('a viewer reads but cannot change anything', async () => {
  const l = await http(`${CONSOLE}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'vera', password: 'viewer-pass-1' }) });
  assert(l.status === 200, `viewer login ${l.status}`);
  const vh = (x = {}) => ({ 'content-type': 'application/json', cookie: l.headers.get('set-cookie').split(';')[0], 'x-csrf-token': l.json.csrf, ...x });
  assert((await http(`${CONSOLE}/console/api/overview`, { headers: vh() })).status === 200, 'viewer cannot read');
  const tries = [
    ['POST', 'proxy/flags/projects/default/features/console-demo/environments/development/off'],
    ['POST', 'users', { name: 'x2', password: 'xxxxxxxxxx', role: 'admin' }],
    ['DELETE', 'users/admin'],
    ['POST', 'proxy/secrets/seal'],
    ['POST', 'scans?repo=a&branch=b', { Results: [] }],
  ];
  for (const [method, p, body] of tries) {
    const r = await http(`${CONSOLE}/console/api/${p}`, { method, headers: vh(), body: body ? JSON.stringify(body) : undefined });
    assert(r.status === 403, `${method} ${p}: ${r.status}`);
  }
  assert(sdk.isEnabled('console-demo', { userId: 'user-1' }) !== undefined, 'sdk');
});

await check('ten failed sign-ins slow the next', async () => {
  const attempt = (password) => http(`${CONSOLE}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'vera', password }) });
  for (let i = 0; i < 10; i += 1) {
    const r = await attempt(`wrong-${i}`);
    assert(r.status === 403, `failure ${i + 1}: ${r.status}`);
  }
  const r = await attempt('viewer-pass-1');
  assert(r.status === 429 && Number(r.headers.get('retry-after')) >= 1, `11th attempt: ${r.status}`);
});

sdk.destroy();
await browser.close();
if (failures.length) writeFileSync(`${WORK}/failed.txt`, `${failures.join('\n')}\n`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(0);
