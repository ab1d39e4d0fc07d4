import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { eventually } from '../support/poll.ts';
import { HOSTILE_ANSWERS, HOSTILE_BODIES, startRawReceiver, startReceiver, type HostileAnswerName, type RawReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, insertFunction, insertSubscriber, publishEvents } from '../support/fixtures.ts';

// Three attempts per message (two quick retries); a timeout short enough for the receivers that
// never finish, long enough that a well-behaved one on a loaded machine makes it.
const ENV = { RETRY_SCHEDULE: '300ms,300ms', DELIVERY_TIMEOUT_MS: '5000', DELIVERY_LEASE: '60s' };

type Attempt = {
  attempt: number;
  outcome: 'success' | 'failure';
  statusCode: number | null;
  error: string | null;
  errorMessage: string | null;
  responseBody: string | null;
  responseBodyBase64: string | null;
  responseBodyEncoding: 'utf8' | 'binary' | null;
  responseBodyTruncated: boolean;
};
type Detail = { id: string; status: string; attempts: number; attemptLog: Attempt[] };

/** What each hostile receiver's message must end as: its final state and the error of every attempt. */
const EXPECTED: Record<HostileAnswerName, { status: 'succeeded' | 'dead'; error: string | null; statusCode: number | null }> = {
  nul: { status: 'succeeded', error: null, statusCode: 200 },
  invalidUtf8: { status: 'succeeded', error: null, statusCode: 200 },
  huge: { status: 'succeeded', error: null, statusCode: 200 },
  drip: { status: 'dead', error: 'timeout', statusCode: null },
  continueThenSilence: { status: 'dead', error: 'protocol', statusCode: null },
  processingThenSilence: { status: 'dead', error: 'timeout', statusCode: null },
  redirect: { status: 'dead', error: 'redirect', statusCode: 302 },
  headerFlood: { status: 'dead', error: 'protocol', statusCode: null },
  resetMidBody: { status: 'dead', error: 'reset', statusCode: null },
  garbageStatus: { status: 'dead', error: 'protocol', statusCode: null },
};

describe('hostile receivers beside a well-behaved one', () => {
  let ctx: TestContext;
  const closers: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    ctx = await startTestContext({ workers: true, env: ENV });
    await insertFunction(ctx.db, { key: 'estates.read', eventTypes: ['estate.updated'] });
  });
  afterAll(async () => {
    await Promise.all(closers.map((c) => c.close()));
    await ctx.stop();
  });

  /** A partner whose subscription (on its own installation) goes to `url`. */
  async function subscriber(installationId: string, url: string) {
    const { partner, subscription } = await insertSubscriber(ctx.db, { installationId, url, eventTypes: ['estate.updated'] });
    return { subscriptionId: subscription.id, apiKey: partner.apiKey };
  }

  async function log(subscriptionId: string, apiKey: string): Promise<{ id: string; status: string; attempts: number }[]> {
    const res = await ctx.request('GET', `/v1/subscriptions/${subscriptionId}/messages?limit=500`, { token: apiKey });
    expect(res.status).toBe(200);
    return res.body.data;
  }

  async function detail(messageId: string, apiKey: string): Promise<Detail> {
    const res = await ctx.request('GET', `/v1/messages/${messageId}`, { token: apiKey });
    expect(res.status).toBe(200);
    return res.body;
  }

  async function wellBehaved(installationId: string) {
    const receiver: TestReceiver = await startReceiver();
    closers.push(receiver);
    return { receiver, ...(await subscriber(installationId, receiver.url)) };
  }

  it('a 200 with a NUL byte does not stall any other subscription’s outcomes (the original bug)', { timeout: 90_000 }, async () => {
    const good = await wellBehaved('GOODNUL');
    const nulReceiver = await startRawReceiver(HOSTILE_ANSWERS.nul);
    closers.push(nulReceiver);
    const nul = await subscriber('HOSTNUL', nulReceiver.url);

    // One batch: the NUL outcome and the 40 good ones reach the attempt writer together.
    await publishEvents(ctx, [hubEvent('HOSTNUL', 'estate.updated'), ...Array.from({ length: 40 }, (_, i) => hubEvent('GOODNUL', 'estate.updated', { i }))]);

    const goodLog = await eventually(async () => {
      const rows = await log(good.subscriptionId, good.apiKey);
      return rows.length === 40 && rows.every((m) => m.status === 'succeeded') ? rows : null;
    }, { timeoutMs: 60_000 });
    const [nulMessage] = await eventually(async () => {
      const rows = await log(nul.subscriptionId, nul.apiKey);
      return rows[0]?.status === 'succeeded' ? rows : null;
    });
    const [attempt] = (await detail(nulMessage!.id, nul.apiKey)).attemptLog;
    expect(attempt).toMatchObject({ outcome: 'success', statusCode: 200, responseBodyEncoding: 'binary', responseBody: 'ok\uFFFDafter a NUL\uFFFD' });
    expect(Buffer.from(attempt!.responseBodyBase64!, 'base64').equals(HOSTILE_BODIES.nul)).toBe(true);
    console.warn(`regression: well-behaved log ${goodLog.filter((m) => m.status === 'succeeded').length}/40 succeeded beside a NUL-body receiver`);
  });

  it('every hostile answer ends in one attempt record per request with a clear error; the good partner gets all 40', { timeout: 150_000 }, async () => {
    const good = await wellBehaved('GOODALL');
    const hostile = new Map<HostileAnswerName, { receiver: RawReceiver; subscriptionId: string; apiKey: string; installationId: string }>();
    for (const [i, name] of (Object.keys(HOSTILE_ANSWERS) as HostileAnswerName[]).entries()) {
      const receiver = await startRawReceiver(HOSTILE_ANSWERS[name]);
      closers.push(receiver);
      const installationId = `HOSTILE${i}`;
      hostile.set(name, { receiver, installationId, ...(await subscriber(installationId, receiver.url)) });
    }

    // All at once, interleaved: the good partner's events and one per hostile receiver.
    const events = Array.from({ length: 40 }, (_, i) => hubEvent('GOODALL', 'estate.updated', { i }));
    for (const h of hostile.values()) events.splice(Math.floor(Math.random() * events.length), 0, hubEvent(h.installationId, 'estate.updated'));
    await publishEvents(ctx, events);

    // The good partner's log: every message succeeded (at its first attempt, unless the machine
    // is so loaded that a loopback request took the whole timeout: the figure says).
    const goodLog = await eventually(async () => {
      const rows = await log(good.subscriptionId, good.apiKey);
      return rows.length === 40 && rows.every((m) => m.status === 'succeeded') ? rows : null;
    }, { timeoutMs: 60_000 });
    const firstTry = goodLog.filter((m) => m.attempts === 1).length;
    expect(good.receiver.requests.length).toBe(goodLog.reduce((n, m) => n + m.attempts, 0));

    const figures: string[] = [];
    for (const [name, h] of hostile) {
      const expected = EXPECTED[name];
      const [message] = await eventually(async () => {
        const rows = await log(h.subscriptionId, h.apiKey);
        return rows[0] && rows[0].status !== 'pending' ? rows : null;
      }, { timeoutMs: 90_000 });
      const d = await detail(message!.id, h.apiKey);
      expect({ name, status: d.status }).toEqual({ name, status: expected.status });
      // One attempt record per try, numbered 1..n, and one try per request the receiver read.
      expect(d.attemptLog.map((a) => a.attempt)).toEqual(Array.from({ length: d.attempts }, (_, i) => i + 1));
      expect(d.attempts).toBe(expected.status === 'dead' ? 3 : 1);
      expect(h.receiver.requests).toHaveLength(d.attempts);
      for (const a of d.attemptLog) {
        expect({ name, error: a.error, statusCode: a.statusCode }).toEqual({ name, error: expected.error, statusCode: expected.statusCode });
        if (expected.status === 'dead') expect(a.errorMessage, name).toMatch(/\w+/);
      }
      figures.push(`${name}: ${d.status}, ${d.attempts} attempt(s), error ${d.attemptLog[0]!.error ?? '-'}${d.attemptLog[0]!.errorMessage ? ` (${d.attemptLog[0]!.errorMessage})` : ''}`);
    }

    // The exact bytes of the bodies no text column could hold are recoverable from the log.
    for (const name of ['nul', 'invalidUtf8'] as const) {
      const h = hostile.get(name)!;
      const [message] = await log(h.subscriptionId, h.apiKey);
      const [a] = (await detail(message!.id, h.apiKey)).attemptLog;
      expect(a!.responseBodyEncoding).toBe('binary');
      expect(Buffer.from(a!.responseBodyBase64!, 'base64').equals(HOSTILE_BODIES[name])).toBe(true);
      expect(a!.responseBody).not.toContain('\u0000');
    }
    // The 10 MiB body: 2 KiB kept, marked as cut.
    const huge = hostile.get('huge')!;
    const [hugeAttempt] = (await detail((await log(huge.subscriptionId, huge.apiKey))[0]!.id, huge.apiKey)).attemptLog;
    expect(hugeAttempt).toMatchObject({ responseBody: 'x'.repeat(2048), responseBodyEncoding: 'utf8', responseBodyTruncated: true });

    // Nothing had to be cut down or dropped to be written, and the writer never stopped committing.
    const metrics = await ctx.request('GET', '/metrics', { token: OPERATOR_TOKEN });
    expect(metrics.text).not.toMatch(/hubhook_attempt_records_unwritable_total\{[^}]*\} [1-9]/);
    expect(metrics.text).toMatch(/hubhook_attempt_writer_failing 0/);
    console.warn(`well-behaved: ${goodLog.length}/40 succeeded, ${firstTry} at attempt 1\n${figures.join('\n')}`);
  });
});
