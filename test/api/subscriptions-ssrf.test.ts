import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { PUSHABLE, pushSetup } from '../support/fixtures.ts';

// No allow-list here: loopback, private and metadata receivers must all be refused, and the
// loopback receiver below (which several URLs point at, by every spelling) must never be hit.
let ctx: TestContext;
let partner: Awaited<ReturnType<typeof pushSetup>>;
let r: TestReceiver;

// Names that resolve to forbidden addresses. The guard's lookup calls dns.lookup, stubbed here for
// these names only (the transport's sockets are undici's, which nock cannot intercept).
const STUBBED: Record<string, { address: string; family: 4 | 6 }[]> = {
  'loopback.partner.test': [{ address: '127.0.0.1', family: 4 }],
  'private.partner.test': [{ address: '10.1.2.3', family: 4 }],
  'metadata.partner.test': [{ address: '169.254.169.254', family: 4 }],
  'v6-loopback.partner.test': [{ address: '::1', family: 6 }],
  // One public and one private answer: every address is checked, not just the first.
  'mixed.partner.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '127.0.0.1', family: 4 },
  ],
};

beforeAll(async () => {
  ctx = await startTestContext({ env: { ALLOW_PRIVATE_RECEIVERS: '' } });
  partner = await pushSetup(ctx.db);
  r = await startReceiver();
  const realLookup = dns.lookup;
  vi.spyOn(dns, 'lookup').mockImplementation(((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const answer = STUBBED[hostname];
    if (!answer) return (realLookup as (...args: unknown[]) => void).call(dns, hostname, options, callback);
    process.nextTick(() => (options.all ? callback(null, answer) : callback(null, answer[0]!.address, answer[0]!.family)));
  }) as never);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await r.close();
  await ctx.stop();
});

describe('receiver URLs that reach forbidden addresses are refused with their reason, and no receiver is hit', () => {
  // [url, the reason named] — P is the port the loopback receiver listens on.
  const cases: [string, string][] = [
    ['http://127.0.0.1:P/hooks', 'loopback'],
    ['http://127.1:P/hooks', 'loopback'],
    ['http://0x7f000001:P/hooks', 'loopback'],
    ['http://2130706433:P/hooks', 'loopback'],
    ['http://0177.0.0.1:P/hooks', 'loopback'],
    ['http://0x7f.1:P/hooks', 'loopback'],
    ['http://[::1]:P/hooks', 'loopback'],
    ['http://[::ffff:127.0.0.1]:P/hooks', 'loopback'],
    ['http://[::ffff:7f00:1]:P/hooks', 'loopback'],
    ['http://[::127.0.0.1]:P/hooks', 'loopback'],
    ['http://[2002:7f00:1::]:P/hooks', 'loopback'],
    ['http://localhost:P/hooks', 'loopback'],
    ['http://hooks.localhost:P/hooks', 'loopback'],
    ['http://0.0.0.0:P/hooks', 'unspecified'],
    ['http://0:P/hooks', 'unspecified'],
    ['http://[::]:P/hooks', 'unspecified'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[::ffff:169.254.169.254]/latest/meta-data/', 'metadata'],
    ['http://[64:ff9b::a9fe:a9fe]/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'metadata'],
    ['http://100.100.100.200/latest/meta-data/', 'metadata'],
    ['http://169.254.10.1/', 'link_local'],
    ['http://[fe80::1]/', 'link_local'],
    ['http://100.64.0.1/', 'cgnat'],
    ['http://10.0.0.1/', 'private'],
    ['http://10.1/', 'private'],
    ['http://172.16.0.1/', 'private'],
    ['http://172.31.255.254/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://[fd00::1]/', 'unique_local'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    // Names whose DNS answer is forbidden: refused at connect time, by the guarded lookup.
    ['http://loopback.partner.test:P/hooks', 'loopback'],
    ['http://v6-loopback.partner.test:P/hooks', 'loopback'],
    ['http://mixed.partner.test:P/hooks', 'loopback'],
    ['http://private.partner.test/hooks', 'private'],
    ['http://metadata.partner.test/latest/meta-data/', 'metadata'],
  ];

  it.each(cases)('%s → %s', async (template, reason) => {
    const url = template.replace(':P', `:${r.port}`);
    const res = await ctx.request('POST', `/v1/products/${partner.productId}/subscriptions`, {
      token: partner.apiKey,
      body: { functionKey: PUSHABLE, url },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.body.error.code).toBe('forbidden_address');
    expect(res.body.error.details).toHaveLength(1);
    expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'forbidden_address' });
    expect(res.body.error.details[0].message).toContain(reason);
    expect(r.requests).toHaveLength(0);
  });

  it('covers at least 25 URLs and stores none of them', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    expect(await ctx.db('subscriptions').count('* as n').first()).toEqual({ n: 0 });
    expect(r.requests).toHaveLength(0);
  });

  it('never names the address a host name resolved to (only its kind)', async () => {
    const res = await ctx.request('POST', `/v1/products/${partner.productId}/subscriptions`, {
      token: partner.apiKey,
      body: { functionKey: PUSHABLE, url: 'http://private.partner.test/hooks' },
    });
    expect(res.text).not.toContain('10.1.2.3');
  });
});

describe('in production', () => {
  it('refuses http receivers: https only', async () => {
    const prod = await startTestContext({ env: { HUBHOOK_ENV: 'production', ALLOW_PRIVATE_RECEIVERS: '' } });
    try {
      const p = await pushSetup(prod.db);
      const res = await prod.request('POST', `/v1/products/${p.productId}/subscriptions`, {
        token: p.apiKey,
        body: { functionKey: PUSHABLE, url: 'http://hooks.partner.example/webhooks' },
      });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('invalid_url');
      expect(res.body.error.details[0]).toMatchObject({ path: 'body.url', code: 'https_required' });
    } finally {
      await prod.stop();
    }
  });
});
