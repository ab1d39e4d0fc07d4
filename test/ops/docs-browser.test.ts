import { existsSync, rmSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/ops-board-screenshot.ts';

const SCREENSHOTS = { top: '/tmp/hubhook-docs.png', tryItOut: '/tmp/hubhook-docs-try-it-out.png', body: '/tmp/hubhook-docs-create-subscription.png' };

// Runs wherever Debian's chromium is installed (apt-get install chromium); .ci/run need not have it.
describe.runIf(existsSync(CHROMIUM))('the API reference page in headless Chromium', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx?.stop();
  });

  it('renders every operation from /openapi.json, and "Try it out" calls the api', { timeout: 180_000 }, async () => {
    for (const file of Object.values(SCREENSHOTS)) rmSync(file, { force: true });
    const document = (await ctx.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { operationId: string }>> };
    const operationIds = Object.values(document.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 90_000 });
    try {
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
      page.setDefaultTimeout(30_000);
      const requested: string[] = [];
      const problems: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (err) => problems.push(err.message));

      await page.goto(`${ctx.url}/docs`);
      await page.waitForSelector('.opblock');
      // Each operation under each of its tags, shown with its operationId (what a generated client calls it).
      const shown = new Set((await page.locator('.opblock-summary-operation-id').allInnerTexts()).map((text) => text.trim()));
      expect(operationIds.filter((id) => !shown.has(id))).toEqual([]);
      expect(operationIds.length).toBeGreaterThan(70);
      // The security schemes are offered in the Authorize dialog.
      expect(await page.locator('button.authorize').count()).toBe(1);

      await page.screenshot({ path: SCREENSHOTS.top });

      // Try it out on a public operation, end to end: the page calls the api and shows the answer.
      await page.locator('#operations-health-getLiveness .opblock-summary').click();
      await page.locator('#operations-health-getLiveness button.try-out__btn').click();
      await page.locator('#operations-health-getLiveness button.execute').click();
      const status = page.locator('#operations-health-getLiveness .live-responses-table tr.response .response-col_status').first();
      await status.waitFor();
      expect((await status.innerText()).trim()).toBe('200');
      await expect.poll(() => page.locator('#operations-health-getLiveness .live-responses-table').innerText()).toContain('"status": "ok"');

      await page.locator('#operations-health-getLiveness').screenshot({ path: SCREENSHOTS.tryItOut });

      // An operation with a body shows its example, and the webhooks section is there.
      await page.locator('#operations-subscriptions-createSubscription .opblock-summary').click();
      await page.locator('#operations-subscriptions-createSubscription button.try-out__btn').waitFor();
      await expect.poll(() => page.locator('#operations-subscriptions-createSubscription').innerText()).toContain('https://hooks.fjord.example/hubhook');
      expect(await page.locator('text=Webhooks').count()).toBeGreaterThan(0);

      await page.screenshot({ path: SCREENSHOTS.body });
      // Nothing from elsewhere, and nothing the page's policy had to refuse.
      expect(requested.filter((url) => !url.startsWith(ctx.url))).toEqual([]);
      expect(problems).toEqual([]);
      expect(Object.values(SCREENSHOTS).filter((file) => !existsSync(file))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
