import dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, Pool, fetch as undiciFetch, request as undiciRequest } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ForbiddenAddressError,
  MAX_URL_LENGTH,
  UrlGuardConfigError,
  checkUrl,
  classifyAddress,
  createGuardedLookup,
  isAllowed,
  parseAllowList,
  type BaseLookup,
  type GuardPolicy,
} from './url-guard.ts';

const open: GuardPolicy = { allow: [], httpsOnly: false };
const production: GuardPolicy = { allow: [], httpsOnly: true };
const dev: GuardPolicy = { allow: ['127.0.0.0/8', '::1', 'localhost'], httpsOnly: false };

describe('classifyAddress', () => {
  it.each([
    // IPv4
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.0.1', 'link_local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['192.0.0.192', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    // IPv6
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'site_local'],
    ['fc00::1', 'unique_local'],
    ['fd00::1', 'unique_local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'],
    ['2001:2::1', 'reserved'],
    ['64:ff9b:1::a00:1', 'reserved'],
    // IPv4 embedded in IPv6: the inner address decides
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::127.0.0.1', 'loopback'],
    ['::ffff:0:7f00:1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::c0a8:101', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a00:1::1', 'private'],
    ['2001:0:5db8:d822::80ff:fffe', 'loopback'], // Teredo, client 127.0.0.1 (bit-inverted)
    // deprecated or tunnelled forms with a public inside are still refused
    ['::93.184.216.34', 'reserved'], // compatible, not mapped (ipaddr.js alone gets this wrong)
    ['::5db8:d822', 'reserved'],
    ['2002:5db8:d822::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    // not an address at all
    ['example.com', 'invalid_address'],
    ['', 'invalid_address'],
    ['1.2.3.4.5', 'invalid_address'],
    ['::1.2.3.256', 'invalid_address'],
  ])('%s is %s', (ip, reason) => {
    expect(classifyAddress(ip)).toBe(reason);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '169.255.0.1',
    '11.0.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:93.184.216.34',
    '64:ff9b::5db8:d822', // NAT64 of a public address
    '[2606:4700:4700::1111]',
  ])('%s is public', (ip) => {
    expect(classifyAddress(ip)).toBeNull();
  });
});

describe('checkUrl', () => {
  const longUrl = `https://example.com/${'a'.repeat(3 * 1024)}`;

  it.each([
    // IP literals in every spelling the WHATWG parser normalises
    ['http://127.0.0.1/', 'forbidden_address', 'loopback'],
    ['http://127.1', 'forbidden_address', 'loopback'],
    ['http://0x7f000001', 'forbidden_address', 'loopback'],
    ['http://2130706433', 'forbidden_address', 'loopback'],
    ['http://017700000001', 'forbidden_address', 'loopback'],
    ['http://0x7f.0.0.1', 'forbidden_address', 'loopback'],
    ['http://0177.0.0.1', 'forbidden_address', 'loopback'],
    ['http://127.0.0.1.', 'forbidden_address', 'loopback'],
    ['http://%31%32%37.0.0.1', 'forbidden_address', 'loopback'],
    ['http://①②⑦.⓪.⓪.①', 'forbidden_address', 'loopback'],
    ['http://127.0.0.1\\@example.com', 'forbidden_address', 'loopback'],
    ['http://127.0.0.1#@example.com', 'forbidden_address', 'loopback'],
    ['http://[::1]', 'forbidden_address', 'loopback'],
    ['http://[0:0:0:0:0:0:0:1]:8080/', 'forbidden_address', 'loopback'],
    ['http://[::ffff:127.0.0.1]', 'forbidden_address', 'loopback'],
    ['http://[::ffff:7f00:1]', 'forbidden_address', 'loopback'],
    ['http://[::127.0.0.1]', 'forbidden_address', 'loopback'],
    ['http://[64:ff9b::7f00:1]', 'forbidden_address', 'loopback'],
    ['http://[64:ff9b::127.0.0.1]', 'forbidden_address', 'loopback'],
    ['http://[2002:7f00:1::]', 'forbidden_address', 'loopback'],
    ['http://localhost:3000/hook', 'forbidden_address', 'loopback'],
    ['http://LOCALHOST./hook', 'forbidden_address', 'loopback'],
    ['http://receiver.localhost/', 'forbidden_address', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'forbidden_address', 'metadata'],
    ['http://0xa9fea9fe/latest/meta-data', 'forbidden_address', 'metadata'],
    ['http://[::ffff:169.254.169.254]/', 'forbidden_address', 'metadata'],
    ['http://[fd00:ec2::254]/latest/meta-data', 'forbidden_address', 'metadata'],
    ['http://100.100.100.200/latest/meta-data', 'forbidden_address', 'metadata'],
    ['http://169.254.1.1', 'forbidden_address', 'link_local'],
    ['http://100.64.0.1', 'forbidden_address', 'cgnat'],
    ['http://10.0.0.1', 'forbidden_address', 'private'],
    ['http://172.16.0.1', 'forbidden_address', 'private'],
    ['http://172.31.255.255', 'forbidden_address', 'private'],
    ['http://192.168.1.1', 'forbidden_address', 'private'],
    ['http://0300.0250.0001.0001', 'forbidden_address', 'private'],
    ['http://3232235777', 'forbidden_address', 'private'],
    ['http://[fd00::1]', 'forbidden_address', 'unique_local'],
    ['http://[fe80::1]', 'forbidden_address', 'link_local'],
    ['http://0.0.0.0', 'forbidden_address', 'unspecified'],
    ['http://0', 'forbidden_address', 'unspecified'],
    ['http://[::]', 'forbidden_address', 'unspecified'],
    ['http://224.0.0.1', 'forbidden_address', 'multicast'],
    ['http://[ff02::1]', 'forbidden_address', 'multicast'],
    ['http://255.255.255.255', 'forbidden_address', 'broadcast'],
    ['http://192.0.2.10', 'forbidden_address', 'reserved'],
    ['http://[2001:db8::1]', 'forbidden_address', 'reserved'],
    // form
    ['ftp://example.com', 'unsupported_scheme', undefined],
    ['file:///etc/passwd', 'unsupported_scheme', undefined],
    ['gopher://example.com:70/_x', 'unsupported_scheme', undefined],
    ['javascript:alert(1)', 'unsupported_scheme', undefined],
    ['http://user:pass@example.com', 'credentials_in_url', undefined],
    ['https://user@example.com/hook', 'credentials_in_url', undefined],
    ['http://example.com@127.0.0.1', 'credentials_in_url', undefined],
    [longUrl, 'url_too_long', undefined],
    ['example.com/hook', 'invalid_url', undefined],
    ['http://', 'invalid_url', undefined],
    ['http://exa mple.com', 'invalid_url', undefined],
    ['http://1.2.3.4.5/', 'invalid_url', undefined],
    ['http://[fe80::1%25eth0]/', 'invalid_url', undefined],
    ['', 'invalid_url', undefined],
  ])('refuses %s (%s %s)', (raw, code, reason) => {
    const result = checkUrl(raw, open);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(code);
    if (reason !== undefined) expect(result.reason).toBe(reason);
    else expect(result.reason).toEqual(expect.any(String));
  });

  it('requires https in production', () => {
    expect(checkUrl('http://example.com/hook', production)).toMatchObject({ ok: false, code: 'https_required' });
    expect(checkUrl('http://93.184.216.34/hook', production)).toMatchObject({ ok: false, code: 'https_required' });
    expect(checkUrl('https://example.com/hook', production)).toMatchObject({ ok: true });
    // scheme is checked before the address, and both still apply with https
    expect(checkUrl('https://127.0.0.1/hook', production)).toMatchObject({ ok: false, code: 'forbidden_address', reason: 'loopback' });
  });

  it('refuses a URL whose normalised form outgrows the limit', () => {
    const raw = `https://example.com/${'<'.repeat(MAX_URL_LENGTH - 100)}`; // each < becomes %3C
    expect(raw.length).toBeLessThanOrEqual(MAX_URL_LENGTH);
    expect(checkUrl(raw, open)).toMatchObject({ ok: false, code: 'url_too_long' });
  });

  it('accepts a URL of exactly the maximum length', () => {
    const base = 'https://example.com/';
    expect(checkUrl(base + 'a'.repeat(MAX_URL_LENGTH - base.length), open).ok).toBe(true);
  });

  it.each([
    ['http://93.184.216.34', 'http://93.184.216.34/'],
    ['https://example.com', 'https://example.com/'],
    ['HTTPS://Example.COM:8443/hooks/in?x=1', 'https://example.com:8443/hooks/in?x=1'],
    ['http://[2606:4700:4700::1111]/hook', 'http://[2606:4700:4700::1111]/hook'],
    ['http://[::ffff:93.184.216.34]/', 'http://[::ffff:5db8:d822]/'],
    ['https://partner.example/webhooks/hub', 'https://partner.example/webhooks/hub'],
    ['https://localhost.example.com/', 'https://localhost.example.com/'],
    ['https://intranet/', 'https://intranet/'], // names are judged at connect time by the guarded lookup
  ])('accepts %s', (raw, href) => {
    const result = checkUrl(raw, open);
    expect(result.ok).toBe(true);
    expect(result.ok && result.url.href).toBe(href);
  });

  describe('with the allow-list', () => {
    it.each([
      'http://127.0.0.1:3000/hook',
      'http://127.1:3000/hook',
      'http://127.9.9.9/',
      'http://[::1]:8080/hook',
      'http://[::ffff:127.0.0.1]/',
      'http://localhost:3000/hook',
      'http://LocalHost./hook',
    ])('admits %s', (raw) => {
      expect(checkUrl(raw, dev).ok).toBe(true);
    });

    it.each([
      ['http://10.0.0.1/', 'private'],
      ['http://169.254.169.254/', 'metadata'],
      ['http://[::2]/', 'unspecified'], // IPv4-compatible ::0.0.0.2
      ['http://foo.localhost/', 'loopback'],
    ])('still refuses %s', (raw, reason) => {
      expect(checkUrl(raw, dev)).toMatchObject({ ok: false, code: 'forbidden_address', reason });
    });

    it('does not lift other checks', () => {
      expect(checkUrl('http://127.0.0.1/', { ...dev, httpsOnly: true })).toMatchObject({ ok: false, code: 'https_required' });
      expect(checkUrl('http://a:b@127.0.0.1/', dev)).toMatchObject({ ok: false, code: 'credentials_in_url' });
    });
  });
});

describe('isAllowed / parseAllowList', () => {
  const policy: GuardPolicy = { allow: parseAllowList(' 127.0.0.0/8, ::1 ,Receiver.Local, 10.1.2.3, fd00::/8,[::2],, '), httpsOnly: false };

  it('parses and trims the setting', () => {
    expect(policy.allow).toEqual(['127.0.0.0/8', '::1', 'Receiver.Local', '10.1.2.3', 'fd00::/8', '[::2]']);
    expect(parseAllowList(undefined)).toEqual([]);
    expect(parseAllowList('')).toEqual([]);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true], // IPv4-mapped matches IPv4 entries
    ['10.1.2.3', true],
    ['10.1.2.4', false],
    ['fd12::1', true],
    ['fe80::1', false],
    ['::2', true],
    ['receiver.local', true],
    ['RECEIVER.LOCAL.', true],
    ['other.receiver.local', false],
    ['receiver.local.evil.com', false],
    ['localhost', false],
    ['128.0.0.1', false],
  ])('%s → %s', (host, expected) => {
    expect(isAllowed(host, policy)).toBe(expected);
  });

  it('an empty allow-list admits nothing', () => {
    expect(isAllowed('127.0.0.1', open)).toBe(false);
    expect(isAllowed('localhost', open)).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.1/8', '127.0.0.1/x', 'not a host', '*.example.com', 'http://localhost', '::1/129'])(
    'refuses the entry %s, naming ALLOW_PRIVATE_RECEIVERS',
    (entry) => {
      expect(() => parseAllowList(`127.0.0.1,${entry}`)).toThrow(UrlGuardConfigError);
      expect(() => parseAllowList(entry)).toThrow(/ALLOW_PRIVATE_RECEIVERS/);
    },
  );

  it('createGuardedLookup refuses a bad allow-list up front', () => {
    expect(() => createGuardedLookup({ allow: ['bad entry'], httpsOnly: false })).toThrow(UrlGuardConfigError);
  });
});

// ---------------------------------------------------------------------------------------------

type LookupOutcome = { err: NodeJS.ErrnoException | null; address: string | dns.LookupAddress[]; family: number | undefined };

function callLookup(lookup: ReturnType<typeof createGuardedLookup>, host: string, options: dns.LookupOptions): Promise<LookupOutcome> {
  return new Promise((resolve) => lookup(host, options, (err, address, family) => resolve({ err, address, family })));
}

/** A fake resolver answering from a table, counting calls. */
function fakeResolver(table: Record<string, string[] | NodeJS.ErrnoException>): BaseLookup & { calls: number } {
  const fn = ((host, _opts, cb) => {
    fn.calls++;
    const answer = table[host];
    if (answer === undefined) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), []);
    if (answer instanceof Error) return cb(answer, []);
    cb(null, answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  }) as BaseLookup & { calls: number };
  fn.calls = 0;
  return fn;
}

describe('createGuardedLookup (resolver level)', () => {
  const resolver = fakeResolver({
    'public.test': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'private.test': ['10.0.0.5'],
    'mixed.test': ['93.184.216.34', '127.0.0.1'],
    'mapped.test': ['::ffff:169.254.169.254'],
    'nat64.test': ['64:ff9b::a00:5'],
    'meta.test': ['169.254.169.254'],
    'receiver.test': ['127.0.0.1'],
    'empty.test': [],
  });
  const guarded = createGuardedLookup(open, resolver);

  it('passes public addresses through, in the shape asked for', async () => {
    const all = await callLookup(guarded, 'public.test', { all: true });
    expect(all.err).toBeNull();
    expect(all.address).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ]);
    const one = await callLookup(guarded, 'public.test', {});
    expect(one).toEqual({ err: null, address: '93.184.216.34', family: 4 });
  });

  it.each([
    ['private.test', '10.0.0.5', 'private'],
    ['mixed.test', '127.0.0.1', 'loopback'],
    ['mapped.test', '::ffff:169.254.169.254', 'metadata'],
    ['nat64.test', '64:ff9b::a00:5', 'private'],
    ['meta.test', '169.254.169.254', 'metadata'],
  ])('refuses %s (resolves to %s: %s), with all and without', async (host, address, reason) => {
    for (const options of [{ all: true }, {}, { family: 4 }]) {
      const { err } = await callLookup(guarded, host, options);
      expect(err).toBeInstanceOf(ForbiddenAddressError);
      expect(err).toMatchObject({ code: 'ERR_FORBIDDEN_ADDRESS', reason, address, hostname: host });
    }
  });

  it('honours the allow-list by address and by name', async () => {
    const byCidr = createGuardedLookup({ allow: ['127.0.0.0/8'], httpsOnly: false }, resolver);
    expect((await callLookup(byCidr, 'receiver.test', {})).address).toBe('127.0.0.1');
    expect((await callLookup(byCidr, 'mixed.test', {})).err).toBeNull();
    expect((await callLookup(byCidr, 'private.test', {})).err).toBeInstanceOf(ForbiddenAddressError);
    const byName = createGuardedLookup({ allow: ['Receiver.Test'], httpsOnly: false }, resolver);
    expect((await callLookup(byName, 'receiver.test', {})).err).toBeNull();
    expect((await callLookup(byName, 'mixed.test', {})).err).toBeInstanceOf(ForbiddenAddressError);
  });

  it('passes resolver errors and empty answers through as errors', async () => {
    expect((await callLookup(guarded, 'nowhere.test', {})).err).toMatchObject({ code: 'ENOTFOUND' });
    expect((await callLookup(guarded, 'empty.test', { all: true })).err).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('always asks the resolver for every address and passes the other options on', async () => {
    const seen: dns.LookupAllOptions[] = [];
    const spy: BaseLookup = (_h, opts, cb) => {
      seen.push(opts);
      cb(null, [{ address: '93.184.216.34', family: 4 }]);
    };
    await callLookup(createGuardedLookup(open, spy), 'x.test', { family: 4, hints: dns.ADDRCONFIG });
    expect(seen).toEqual([{ family: 4, hints: dns.ADDRCONFIG, all: true }]);
  });

  it('accepts the legacy (host, family, cb) and (host, cb) call forms', async () => {
    const g = guarded as unknown as (...args: unknown[]) => void;
    const viaFamily = await new Promise((r) => g('public.test', 4, (err: unknown, address: unknown) => r({ err, address })));
    expect(viaFamily).toEqual({ err: null, address: '93.184.216.34' });
    const viaCb = await new Promise((r) => g('private.test', (err: unknown) => r(err)));
    expect(viaCb).toBeInstanceOf(ForbiddenAddressError);
  });

  it('stops DNS rebinding: each connect is judged on what the name resolves to then', async () => {
    let calls = 0;
    const rebinding: BaseLookup = (_h, _o, cb) => {
      calls++;
      cb(null, [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }]);
    };
    const g = createGuardedLookup(open, rebinding);
    expect((await callLookup(g, 'rebind.test', {})).err).toBeNull();
    expect((await callLookup(g, 'rebind.test', {})).err).toMatchObject({ code: 'ERR_FORBIDDEN_ADDRESS', reason: 'loopback' });
  });

  describe('with the system resolver', () => {
    afterEach(() => vi.restoreAllMocks());

    it('refuses localhost (resolves to loopback)', async () => {
      const { err } = await callLookup(createGuardedLookup(open), 'localhost', { all: true });
      expect(err).toMatchObject({ code: 'ERR_FORBIDDEN_ADDRESS', reason: 'loopback', hostname: 'localhost' });
    });

    it('uses dns.lookup at call time (so it can be spied on), and refuses a private answer', async () => {
      const spy = vi.spyOn(dns, 'lookup').mockImplementation(((
        _host: string,
        _opts: dns.LookupAllOptions,
        cb: (err: null, addresses: dns.LookupAddress[]) => void,
      ) => cb(null, [{ address: '192.168.10.20', family: 4 }])) as unknown as typeof dns.lookup);
      const { err } = await callLookup(createGuardedLookup(open), 'printer.example.com', {});
      expect(spy).toHaveBeenCalledWith('printer.example.com', { all: true }, expect.any(Function));
      expect(err).toMatchObject({ code: 'ERR_FORBIDDEN_ADDRESS', reason: 'private', address: '192.168.10.20' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Real connections to a loopback receiver

describe('createGuardedLookup (real connections)', () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  const loopbackAllowed: GuardPolicy = { allow: ['127.0.0.0/8', '::1'], httpsOnly: false };
  const nameAllowed: GuardPolicy = { allow: ['localhost'], httpsOnly: false };
  const otherAllowed: GuardPolicy = { allow: ['10.0.0.0/8'], httpsOnly: false };

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function nodeGet(url: string, agent: http.Agent): Promise<number> {
    return new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
  }

  async function expectForbidden(p: Promise<unknown>): Promise<void> {
    const before = hits;
    const err: unknown = await p.then(
      () => expect.unreachable('request should have been refused'),
      (e: unknown) => e,
    );
    // fetch wraps connection errors in TypeError('fetch failed', { cause })
    const cause = err instanceof TypeError && err.cause !== undefined ? err.cause : err;
    expect(cause).toBeInstanceOf(ForbiddenAddressError);
    expect(cause).toMatchObject({ code: 'ERR_FORBIDDEN_ADDRESS', reason: 'loopback', hostname: 'localhost' });
    expect(hits).toBe(before); // the receiver never saw a request
  }

  describe('node:http Agent', () => {
    it.each([
      ['CIDR', loopbackAllowed],
      ['host name', nameAllowed],
    ])('connects when the allow-list admits loopback by %s', async (_label, policy) => {
      const agent = new http.Agent({ lookup: createGuardedLookup(policy) });
      expect(await nodeGet(`http://localhost:${port}/hook`, agent)).toBe(204);
      agent.destroy();
    });

    it.each([
      ['an empty allow-list', open],
      ['an allow-list for another range', otherAllowed],
    ])('refuses with %s', async (_label, policy) => {
      const agent = new http.Agent({ lookup: createGuardedLookup(policy) });
      await expectForbidden(nodeGet(`http://localhost:${port}/hook`, agent));
      agent.destroy();
    });

    it('refuses a public-looking name that resolves to loopback (mocked resolver)', async () => {
      const agent = new http.Agent({ lookup: createGuardedLookup(open, fakeResolver({ 'receiver.partner.example': ['127.0.0.1'] })) });
      const before = hits;
      await expect(nodeGet(`http://receiver.partner.example:${port}/`, agent)).rejects.toMatchObject({ code: 'ERR_FORBIDDEN_ADDRESS', reason: 'loopback' });
      expect(hits).toBe(before);
      agent.destroy();
    });

    it('documents why checkUrl is required: Node never calls lookup for an IP-literal host', async () => {
      const resolver = fakeResolver({});
      const agent = new http.Agent({ lookup: createGuardedLookup(open, resolver) });
      expect(await nodeGet(`http://127.0.0.1:${port}/`, agent)).toBe(204);
      expect(resolver.calls).toBe(0);
      expect(checkUrl(`http://127.0.0.1:${port}/`, open)).toMatchObject({ ok: false, reason: 'loopback' });
      agent.destroy();
    });
  });

  describe('undici', () => {
    it('Agent connect.lookup admits an allowed receiver (request and fetch)', async () => {
      const dispatcher = new Agent({ connect: { lookup: createGuardedLookup(loopbackAllowed) } });
      const res = await undiciRequest(`http://localhost:${port}/hook`, { method: 'POST', body: '{}', dispatcher });
      await res.body.dump();
      expect(res.statusCode).toBe(204);
      const f = await undiciFetch(`http://localhost:${port}/hook`, { method: 'POST', body: '{}', dispatcher });
      expect(f.status).toBe(204);
      await dispatcher.close();
    });

    it('Agent connect.lookup refuses a forbidden receiver (request and fetch)', async () => {
      const dispatcher = new Agent({ connect: { lookup: createGuardedLookup(open) } });
      await expectForbidden(undiciRequest(`http://localhost:${port}/hook`, { method: 'POST', body: '{}', dispatcher }));
      await expectForbidden(undiciFetch(`http://localhost:${port}/hook`, { method: 'POST', body: '{}', dispatcher }));
      await dispatcher.close();
    });

    it('Pool connect.lookup admits and refuses alike', async () => {
      const ok = new Pool(`http://localhost:${port}`, { connect: { lookup: createGuardedLookup(nameAllowed) } });
      const res = await ok.request({ path: '/hook', method: 'GET' });
      await res.body.dump();
      expect(res.statusCode).toBe(204);
      await ok.close();

      const refused = new Pool(`http://localhost:${port}`, { connect: { lookup: createGuardedLookup(otherAllowed) } });
      await expectForbidden(refused.request({ path: '/hook', method: 'GET' }));
      await refused.close();
    });
  });
});
