// bench/footprint's console part: each page's first load in headless Debian Chromium (fresh
// profile, so nothing is cached) and the compressed bytes it downloaded. Needs the npm
// packages of compat/console (puppeteer-core). Env: CONSOLE_URL, ADMIN_PASSWORD, RUNS, WORK.
import { createRequire } from 'node:module';
const require = createRequire(`${process.env.NODE_DIR}/`);
const puppeteer = require('puppeteer-core');

const { CONSOLE_URL, ADMIN_PASSWORD, WORK } = process.env;
const runs = Number(process.env.RUNS || 5);
const pages = ['overview', 'flags', 'waf', 'secrets', 'scans', 'traces', 'logs', 'activity', 'users'];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const results = Object.fromEntries(pages.map((p) => [p, { ms: [], bytes: [] }]));

for (let run = 0; run < runs; run += 1) {
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium', headless: true, userDataDir: `${WORK}/profile-${run}`,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  for (const p of pages) {
    // A fresh context per page: a first load, nothing cached. Sign in from a JSON URL
    // first (that loads no asset), then time the page.
    const ctx = await browser.createBrowserContext();
    const page = await ctx.newPage();
    await page.goto(`${CONSOLE_URL}/console/api/session`);
    await page.evaluate(async (pw) => {
      await fetch('/console/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: pw }) });
    }, ADMIN_PASSWORD);
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    let bytes = 0;
    cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
    const t0 = Date.now();
    await page.goto(`${CONSOLE_URL}/#/${p}`, { waitUntil: 'load' });
    await page.waitForFunction(() => document.querySelector('main h1') && !document.querySelector('.state.loading'), { timeout: 10000 });
    results[p].ms.push(Date.now() - t0);
    results[p].bytes.push(bytes);
    await ctx.close();
  }
  await browser.close();
}
for (const p of pages) {
  const ms = median(results[p].ms); const kb = median(results[p].bytes) / 1024;
  console.log(`  ${p.padEnd(10)} first load ${String(ms).padStart(5)} ms (median of ${runs})   ${kb.toFixed(1).padStart(6)} KB over the wire (goals < 1000 ms, <= 250 KB)`);
}
