// Drives Debian's chromium (headless) with puppeteer-core: opens the page served from
// another origin, runs the web SDK, prints the trace id.
// Usage: node browser.mjs <page url> <otlp traces url>
import puppeteer from 'puppeteer-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [page_url, otlp_url] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${mkdtempSync(join(tmpdir(), 'opshelf-chromium-'))}`],
});
try {
  const page = await browser.newPage();
  const failed = [];
  page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('console', (m) => { if (m.type() === 'error') failed.push(`console: ${m.text()}`); });
  await page.goto(page_url, { waitUntil: 'load' });
  const traceId = await page.evaluate((u) => window.runTrace(u), otlp_url);
  if (failed.length) console.error(failed.join('\n'));
  console.log(traceId);
} finally {
  await browser.close();
}
