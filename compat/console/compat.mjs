// The console in headless Debian Chromium (puppeteer-core), against a real opshelf with
// flags, secrets and the WAF; the unleash-client SDK watches the flags it changes.
// Prints "N passed, N failed" last.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';
import { initialize } from 'unleash-client';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const E = process.env;
const CONSOLE = E.CONSOLE_URL; const FLAGS = E.FLAGS_URL; const WAF = E.WAF_URL; const VAULT = E.VAULT_URL;
const PASSWORD = E.ADMIN_PASSWORD; const WORK = E.WORK; const SHOTS = `${WORK}/screenshots`;
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
  await page.type('#vault-token', init.json.root_token);
  await clickText('button', 'Sign in to Vault');
  await waitText('Secrets engines');
  await page.waitForFunction(() => !document.querySelector('.state.loading'), { timeout: 5000 });
  await waitText('token/');
  await shot('06-secrets');
  await axe('secrets');
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
  await page.setViewport({ width: 390, height: 844 });
  await go('#/overview', 'Overview');
  await shot('09-overview-phone');
  await axe('overview (phone)');
  await page.setViewport({ width: 1280, height: 900 });
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
