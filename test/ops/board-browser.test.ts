import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { CHROMIUM, screenshotBoard } from '../../scripts/ops-board-screenshot.ts';
import { QUEUE_NAMES } from '#shared/queues/catalog';

// Runs wherever Debian's chromium is installed (apt-get install chromium); .ci/run need not have it.
describe.runIf(existsSync(CHROMIUM))('the queue dashboard in headless Chromium', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
    // Something to count: no workers run here, so the jobs stay put.
    for (let i = 0; i < 3; i++) await ctx.queues.enqueue('notify', 'upgrade-available', { productId: `prd_${i}`, version: 2 });
    await ctx.queues.deliver[0]!.add('deliver-messages', { messageIds: ['msg_a'] }, { delay: 600_000 });
  });
  afterAll(async () => {
    await ctx?.stop();
  });

  it('shows the login form without a session, and the queues with counts after signing in', { timeout: 180_000 }, async () => {
    for (const file of ['/tmp/ops-board-login.png', '/tmp/ops-board-queues.png']) rmSync(file, { force: true });
    const seen = await screenshotBoard({ url: ctx.url, token: OPERATOR_TOKEN, outDir: '/tmp', queueNames: QUEUE_NAMES });

    expect(seen.loginUrl).toBe(`${ctx.url}/ops/board/login`);
    expect(seen.loginHasTokenField).toBe(true);
    expect(seen.loginText).toContain('Sign in with the operator token');
    for (const name of QUEUE_NAMES) expect(seen.loginText).not.toContain(name);

    expect(seen.boardUrl).toBe(`${ctx.url}/ops/board/`);
    for (const name of QUEUE_NAMES) expect(seen.boardText).toContain(name);
    // Each queue's card with its count: 3 waiting notices, 1 delayed delivery, nothing elsewhere.
    expect(seen.boardText).toMatch(/\nnotify\n3\n3 Jobs/);
    expect(seen.boardText).toMatch(/\ndeliver\n1\n1 Job\n/);
    expect(seen.boardText).toMatch(/\nfanout\n0 Jobs\n/);
    expect(existsSync(seen.files.login) && existsSync(seen.files.board)).toBe(true);
  });
});
