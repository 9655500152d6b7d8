// Drives GraphiQL in headless Chromium against a fresh local runtime: submits a task in one tab,
// watches it in a subscription in another, and saves screenshots. Needs Debian's chromium
// (apt-get install chromium). Usage: node scripts/check-graphiql.ts [screenshot folder]
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { loadLocalConfig } from '../src/config/local-config.ts';
import { startLocalRuntime } from '../src/local/runtime.ts';

const LOCAL_URL = /^(blob:)?http:\/\/127\.0\.0\.1[:/]|^data:/;
const out = process.argv[2] ?? join(tmpdir(), 'graphiql-check');
mkdirSync(out, { recursive: true });
const runtime = await startLocalRuntime(
  loadLocalConfig({ PORT: '0', DATA_DIR: mkdtempSync(join(tmpdir(), 'tq-graphiql-')), LOG_LEVEL: 'warn' }),
);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const external: string[] = [];
  context.on('request', (request) => {
    if (!LOCAL_URL.test(request.url())) external.push(request.url());
  });

  const setQuery = async (page: Page, query: string) => {
    const editor = page.locator('.graphiql-query-editor .monaco-editor').first();
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(query);
  };
  const run = (page: Page) => page.locator('.graphiql-execute-button').click();
  const response = (page: Page) => page.locator('.graphiql-response').first().innerText();

  const submitTab = await context.newPage();
  await submitTab.goto(runtime.url);
  await submitTab.waitForSelector('.graphiql-execute-button', { timeout: 20_000 });

  const watchTab = await context.newPage();
  await watchTab.goto(runtime.url);
  await watchTab.waitForSelector('.graphiql-execute-button', { timeout: 20_000 });
  await setQuery(watchTab, 'subscription { onTaskUpdated { id status progress version } }');
  await run(watchTab);
  await watchTab.waitForTimeout(1000);

  await submitTab.bringToFront();
  await run(submitTab); // the prefilled submitTask mutation
  await submitTab.waitForFunction(() => document.body.innerText.includes('QUEUED'), null, {
    timeout: 20_000,
  });
  const submitted = await response(submitTab);
  await submitTab.screenshot({ path: join(out, 'submit.png') });

  await watchTab.bringToFront();
  await watchTab.waitForFunction(() => document.body.innerText.includes('SUCCEEDED'), null, {
    timeout: 20_000,
  });
  const watched = await response(watchTab);
  await watchTab.screenshot({ path: join(out, 'subscription.png') });

  console.log('submit tab response:\n', submitted);
  console.log('subscription tab (last event):\n', watched);
  console.log(
    external.length ? `requests that left the machine: ${external.join(', ')}` : 'no request left 127.0.0.1',
  );
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await runtime.stop();
}
