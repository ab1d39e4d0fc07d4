import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { formatTable, runOps } from '../../scripts/ops.ts';
import { QUEUE_NAMES } from '#shared/queues/catalog';

/** Runs the command line in-process against the test api; returns its exit code and output. */
async function ops(ctx: TestContext, argv: string[], token = OPERATOR_TOKEN) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runOps(argv, { url: ctx.url, token, out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('npm run ops (the operators command line)', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('prints queue counts as a table', async () => {
    await ctx.queues.enqueue('notify', 'upgrade-available', { productId: 'prd_a', version: 2 });
    const { code, out } = await ops(ctx, ['queues']);
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^name\s+waiting\s+active\s+delayed\s+failed\s+completed\s+paused$/);
    expect(lines[1]).toMatch(/^-+\s+-+/);
    expect(lines.find((l) => l.startsWith('notify'))).toMatch(/^notify\s+1\s+0\s+0\s+0\s+0\s+no$/);
    // A header, a rule, and a line per queue of the catalog.
    expect(lines).toHaveLength(2 + QUEUE_NAMES.length);
  });

  it('pauses and resumes a queue', async () => {
    expect(await ops(ctx, ['pause', 'deliver'])).toMatchObject({ code: 0, out: 'queue deliver paused' });
    expect(await ctx.queues.deliver[0]!.isPaused()).toBe(true);
    expect((await ops(ctx, ['queues'])).out.split('\n').find((l) => l.startsWith('deliver'))).toMatch(/yes$/);
    expect(await ops(ctx, ['resume', 'deliver'])).toMatchObject({ code: 0, out: 'queue deliver resumed' });
    expect(await ctx.queues.deliver[0]!.isPaused()).toBe(false);
  });

  it("exits 1 with the API's error message when the API refuses", async () => {
    expect(await ops(ctx, ['pause', 'nope'])).toEqual({ code: 1, out: '', err: '404 not_found: queue nope not found' });
    expect(await ops(ctx, ['queues'], 'wrong-token-0123456789')).toMatchObject({ code: 1, err: '401 unauthorized: the bearer token is not valid' });
  });

  it('exits 2 on a usage mistake, naming it', async () => {
    expect(await ops(ctx, ['frobnicate'])).toMatchObject({ code: 2, err: expect.stringMatching(/^unknown command: frobnicate\n\nusage:/) });
    expect(await ops(ctx, ['pause'])).toMatchObject({ code: 2, err: expect.stringMatching(/^expected a queue name/) });
    expect(await ops(ctx, ['replay'])).toMatchObject({ code: 2, err: expect.stringMatching(/^give message ids, or --subscription and --since/) });
    expect(await ops(ctx, ['replay', 'msg_x', '--since', '2024-01-01T00:00:00Z'])).toMatchObject({ code: 2 });
    expect(await ops(ctx, ['dead-letters', '--bogus'])).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--bogus'") });
    expect(await ops(ctx, [])).toMatchObject({ code: 2, err: expect.stringMatching(/^usage:/) });
  });

  it('exits 1 naming the url when nothing answers there', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const out: string[] = [];
    const err: string[] = [];
    const code = await runOps(['queues'], { url: `http://127.0.0.1:${port}`, token: OPERATOR_TOKEN, out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('runs as `npm run ops -- queues`, reading HUBHOOK_URL and OPERATOR_TOKEN', async () => {
    const child = spawn('npm', ['run', '--silent', 'ops', '--', 'queues'], {
      cwd: new URL('../..', import.meta.url),
      env: { ...process.env, HUBHOOK_URL: ctx.url, OPERATOR_TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^name\s+waiting/);
    expect(stdout).toMatch(/\nfanout\s+0\s+0\s+0\s+0\s+0\s+no\n/);
  });
});

// nock, because a real api cannot be made to answer 503 on cue or to stall one answer.
describe('the command line over a flaky network', () => {
  const url = 'http://ops.example.test';
  const queue = { name: 'deliver', waiting: 3, active: 0, delayed: 0, failed: 0, completed: 0, paused: false };
  const run = async (argv: string[], extra: { timeoutMs?: number } = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runOps(argv, { url, token: OPERATOR_TOKEN, out: (l) => out.push(l), err: (l) => err.push(l), maxRetryDelayMs: 50, ...extra });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  afterEach(() => {
    nock.cleanAll();
  });

  it('tries again when the api answers 503, and prints the answer that follows', async () => {
    const scope = nock(url)
      .get('/v1/ops/queues')
      .matchHeader('authorization', `Bearer ${OPERATOR_TOKEN}`)
      .reply(503, { error: { code: 'not_ready', message: 'starting' } })
      .get('/v1/ops/queues')
      .reply(200, { data: [queue] });
    const result = await run(['queues']);
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toMatch(/\ndeliver\s+3\s+0/);
    expect(scope.isDone()).toBe(true);
  });

  it('retries a POST on 503 too (every ops command is safe to repeat)', async () => {
    const scope = nock(url).post('/v1/ops/queues/deliver/pause').reply(503).post('/v1/ops/queues/deliver/pause').reply(204);
    expect(await run(['pause', 'deliver'])).toMatchObject({ code: 0, out: 'queue deliver paused' });
    expect(scope.isDone()).toBe(true);
  });

  it('gives up after three 503s and exits 1 with the last answer', async () => {
    const scope = nock(url).get('/v1/ops/queues').times(3).reply(503, { error: { code: 'not_ready', message: 'Redis does not answer' } });
    expect(await run(['queues'])).toEqual({ code: 1, out: '', err: '503 not_ready: Redis does not answer' });
    expect(scope.isDone()).toBe(true);
  });

  it('does not retry an answer the caller must fix (a 4xx)', async () => {
    const scope = nock(url).get('/v1/ops/queues').once().reply(401, { error: { code: 'unauthorized', message: 'the bearer token is not valid' } });
    expect(await run(['queues'])).toMatchObject({ code: 1, err: '401 unauthorized: the bearer token is not valid' });
    expect(scope.isDone()).toBe(true);
  });

  it('times out an answer that does not come, and says it could not reach the api', async () => {
    nock(url).get('/v1/ops/queues').times(3).delay(2_000).reply(200, { data: [queue] });
    const result = await run(['queues'], { timeoutMs: 200 });
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^cannot reach http:\/\/ops\.example\.test: ETIMEDOUT/);
  });
});

describe('formatTable', () => {
  it('pads columns to their widest cell and shows missing values as -', () => {
    expect(formatTable([{ a: 'x', b: 12345 }, { a: 'longer', b: null }], ['a', 'b'])).toEqual([
      'a       b',
      '------  -----',
      'x       12345',
      'longer  -',
    ]);
  });
});
