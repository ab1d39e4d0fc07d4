import { createHmac } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  SECRET_PREFIX,
  SigningError,
  clearKeyCache,
  generateSecret,
  parseSecret,
  sign,
  verify,
  type SignatureHeaders,
} from './signing.ts';

const body = JSON.stringify({
  type: 'estate.updated',
  timestamp: '2024-05-01T10:00:00.000Z',
  data: { estateId: 'E1', note: 'ünïcødé ✓ "quoted"' },
  eventId: 'evt_1',
  installationId: 'MSVPAR',
  entityId: 'E1',
  occurredAt: '2024-05-01T09:59:59.000Z',
});

// The public libraries accept a plain header object; spread makes ours one.
const asHeaders = (h: SignatureHeaders): Record<string, string> => ({ ...h });

/** Both public verifiers for a secret: each throws unless the request verifies. */
function libraries(secret: string): Array<[string, (payload: string, headers: Record<string, string>) => unknown]> {
  const sw = new StandardWebhook(secret);
  const svix = new SvixWebhook(secret);
  return [
    ['standardwebhooks', (p, h) => sw.verify(p, h)],
    ['svix', (p, h) => svix.verify(p, h)],
  ];
}

beforeEach(() => clearKeyCache());

describe('generateSecret', () => {
  it('makes whsec_ + base64 of 32 bytes by default', () => {
    const s = generateSecret();
    expect(s.startsWith(SECRET_PREFIX)).toBe(true);
    expect(Buffer.from(s.slice(6), 'base64')).toHaveLength(32);
    expect(parseSecret(s).ok).toBe(true);
  });

  it.each([24, 48, 64])('honours a length of %i bytes', (n) => {
    const parsed = parseSecret(generateSecret(n));
    expect(parsed.ok && parsed.key.length).toBe(n);
  });

  it('is random', () => {
    expect(generateSecret()).not.toBe(generateSecret());
  });

  it.each([0, 23, 65, 32.5, Number.NaN])('refuses a length of %s', (n) => {
    expect(() => generateSecret(n)).toThrow(SigningError);
  });
});

describe('parseSecret', () => {
  it('returns the decoded key', () => {
    const key = Buffer.alloc(32, 7);
    const parsed = parseSecret(`whsec_${key.toString('base64')}`);
    expect(parsed).toEqual({ ok: true, key });
  });

  it.each([
    ['no prefix', Buffer.alloc(32).toString('base64')],
    ['wrong prefix', `whsk_${Buffer.alloc(32).toString('base64')}`],
    ['empty', 'whsec_'],
    ['too short (16 bytes)', `whsec_${Buffer.alloc(16).toString('base64')}`],
    ['too long (65 bytes)', `whsec_${Buffer.alloc(65).toString('base64')}`],
    ['url-safe alphabet', `whsec_${Buffer.alloc(32, 0xfb).toString('base64url')}`],
    ['missing padding', `whsec_${Buffer.alloc(32).toString('base64').replace(/=+$/, '')}`],
    ['junk characters', `whsec_${Buffer.alloc(32).toString('base64').slice(0, 20)}!!!!${Buffer.alloc(32).toString('base64').slice(24)}`],
    ['inner whitespace', `whsec_${Buffer.alloc(32).toString('base64').slice(0, 20)} ${Buffer.alloc(32).toString('base64').slice(20)}`],
    ['non-canonical padding bits', `whsec_${Buffer.alloc(32).toString('base64').slice(0, -2)}B=`],
  ])('refuses %s', (_label, secret) => {
    const parsed = parseSecret(secret);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.code).toBe('invalid_secret');
  });
});

describe('sign', () => {
  const id = 'msg_2fUpM6wYx3ZqR8c1';
  const now = new Date();
  const seconds = Math.floor(now.getTime() / 1000);

  it('produces the Standard Webhooks headers and HMAC by hand', () => {
    const key = Buffer.alloc(32, 1);
    const secret = `whsec_${key.toString('base64')}`;
    const h = sign({ id, timestamp: now, body, secrets: [secret] });
    const expected = createHmac('sha256', key).update(`${id}.${seconds}.${body}`).digest('base64');
    expect(h).toEqual({ 'webhook-id': id, 'webhook-timestamp': String(seconds), 'webhook-signature': `v1,${expected}` });
  });

  it('accepts unix seconds and a Date alike', () => {
    const secret = generateSecret();
    expect(sign({ id, timestamp: seconds, body, secrets: [secret] })).toEqual(sign({ id, timestamp: now, body, secrets: [secret] }));
  });

  it('signs a Uint8Array body the same as the string', () => {
    const secret = generateSecret();
    expect(sign({ id, timestamp: now, body: Buffer.from(body), secrets: [secret] })).toEqual(sign({ id, timestamp: now, body, secrets: [secret] }));
  });

  it('matches the public library signer', () => {
    const secret = generateSecret();
    const theirs = new StandardWebhook(secret).sign(id, now, body);
    expect(sign({ id, timestamp: now, body, secrets: [secret] })['webhook-signature']).toBe(theirs);
  });

  it('gives the same result from the key cache as from a cold start', () => {
    const secret = generateSecret();
    const cold = sign({ id, timestamp: now, body, secrets: [secret] });
    const warm = sign({ id, timestamp: now, body, secrets: [secret] });
    clearKeyCache();
    expect(warm).toEqual(cold);
    expect(sign({ id, timestamp: now, body, secrets: [secret] })).toEqual(cold);
  });

  it('stays correct when the key cache overflows', () => {
    const secrets = Array.from({ length: 4200 }, () => generateSecret());
    const first = secrets[0] as string;
    const before = sign({ id, timestamp: now, body, secrets: [first] });
    for (const s of secrets) sign({ id, timestamp: now, body: 'x', secrets: [s] });
    expect(sign({ id, timestamp: now, body, secrets: [first] })).toEqual(before);
  });

  it('is verified by standardwebhooks and svix with a single secret', () => {
    const secret = generateSecret();
    const h = asHeaders(sign({ id, timestamp: now, body, secrets: [secret] }));
    for (const [name, check] of libraries(secret)) {
      expect(() => check(body, h), name).not.toThrow();
      expect(check(body, h), name).toEqual(JSON.parse(body));
    }
  });

  it('is verified with svix-* header names too', () => {
    const secret = generateSecret();
    const h = sign({ id, timestamp: now, body, secrets: [secret] });
    const svixHeaders = { 'svix-id': h['webhook-id'], 'svix-timestamp': h['webhook-timestamp'], 'svix-signature': h['webhook-signature'] };
    expect(() => new SvixWebhook(secret).verify(body, svixHeaders)).not.toThrow();
  });

  it('during rotation carries one signature per secret, each accepted by both libraries', () => {
    const oldSecret = generateSecret();
    const newSecret = generateSecret(48);
    const h = asHeaders(sign({ id, timestamp: now, body, secrets: [oldSecret, newSecret] }));
    const parts = (h['webhook-signature'] as string).split(' ');
    expect(parts).toHaveLength(2);
    for (const p of parts) expect(p).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    for (const secret of [oldSecret, newSecret]) {
      for (const [name, check] of libraries(secret)) {
        expect(() => check(body, h), `${name} with ${secret === oldSecret ? 'old' : 'new'} secret`).not.toThrow();
      }
    }
    // A third, unrelated secret must not verify.
    for (const [name, check] of libraries(generateSecret())) {
      expect(() => check(body, h), name).toThrow();
    }
  });

  describe('tampering is rejected by both libraries', () => {
    const secret = generateSecret();
    const good = sign({ id, timestamp: now, body, secrets: [secret] });
    const flip = (s: string): string => (s[5] === 'A' ? `${s.slice(0, 5)}B${s.slice(6)}` : `${s.slice(0, 5)}A${s.slice(6)}`);
    const cases: Array<[string, string, Record<string, string>]> = [
      ['body changed', body.replace('E1', 'E2'), asHeaders(good)],
      ['body with trailing newline', `${body}\n`, asHeaders(good)],
      ['id changed', body, { ...good, 'webhook-id': 'msg_other' }],
      ['timestamp changed', body, { ...good, 'webhook-timestamp': String(seconds - 1) }],
      ['signature changed', body, { ...good, 'webhook-signature': flip(good['webhook-signature']) }],
      ['signature version changed', body, { ...good, 'webhook-signature': good['webhook-signature'].replace('v1,', 'v2,') }],
      ['signature missing', body, { 'webhook-id': good['webhook-id'], 'webhook-timestamp': good['webhook-timestamp'] }],
      ['signed with another secret', body, asHeaders(sign({ id, timestamp: now, body, secrets: [generateSecret()] }))],
    ];
    it.each(cases)('%s', (_label, payload, headers) => {
      for (const [name, check] of libraries(secret)) {
        expect(() => check(payload, headers), name).toThrow();
      }
      expect(verify({ headers, body: payload, secrets: [secret] }).ok).toBe(false);
    });

    it('a stale timestamp (older than 5 minutes) is rejected even when correctly signed', () => {
      const old = asHeaders(sign({ id, timestamp: seconds - 600, body, secrets: [secret] }));
      for (const [name, check] of libraries(secret)) expect(() => check(body, old), name).toThrow();
    });
  });

  it.each([
    ['empty id', { id: '' }, 'invalid_id'],
    ['id with a space', { id: 'msg 1' }, 'invalid_id'],
    ['id with a newline', { id: 'msg\r\nx-injected: 1' }, 'invalid_id'],
    ['id too long', { id: 'm'.repeat(257) }, 'invalid_id'],
    ['invalid Date', { timestamp: new Date('nope') }, 'invalid_timestamp'],
    ['fractional seconds', { timestamp: 1.5 }, 'invalid_timestamp'],
    ['negative seconds', { timestamp: -1 }, 'invalid_timestamp'],
    ['no secrets', { secrets: [] }, 'no_secrets'],
    ['malformed secret', { secrets: ['whsec_nope'] }, 'invalid_secret'],
    ['one malformed secret among good ones', { secrets: [generateSecret(), 'plain'] }, 'invalid_secret'],
  ] as const)('throws SigningError for %s', (_label, patch, code) => {
    const input = { id, timestamp: now, body, secrets: [generateSecret()], ...patch };
    try {
      sign(input);
      expect.unreachable('sign should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(SigningError);
      expect((err as SigningError).code).toBe(code);
      expect((err as SigningError).reason).toEqual(expect.any(String));
    }
  });
});

describe('verify', () => {
  const id = 'msg_1';
  const secret = generateSecret();
  const other = generateSecret();
  const now = new Date('2024-05-01T10:00:00Z');

  it('accepts our own signature, from any of the secrets, with case-insensitive headers', () => {
    const h = sign({ id, timestamp: now, body, secrets: [other, secret] });
    const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verify({ headers: upper, body, secrets: [secret], now })).toEqual({ ok: true });
    expect(verify({ headers: h, body, secrets: ['garbage', other], now })).toEqual({ ok: true });
  });

  it('accepts a signature made by the public library', () => {
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(now.getTime() / 1000), 'webhook-signature': new StandardWebhook(secret).sign(id, now, body) };
    expect(verify({ headers, body, secrets: [secret], now })).toEqual({ ok: true });
  });

  it.each([
    ['missing headers', {}, 'missing_headers'],
    ['non-numeric timestamp', { 'webhook-timestamp': '12a' }, 'invalid_timestamp'],
    ['too old', { 'webhook-timestamp': String(now.getTime() / 1000 - 301) }, 'timestamp_out_of_tolerance'],
    ['too new', { 'webhook-timestamp': String(now.getTime() / 1000 + 301) }, 'timestamp_out_of_tolerance'],
    ['wrong signature', { 'webhook-signature': 'v1,AAAA v2,BBBB' }, 'no_matching_signature'],
  ] as const)('refuses %s', (_label, patch, code) => {
    const base = Object.keys(patch).length === 0 ? {} : sign({ id, timestamp: now, body, secrets: [secret] });
    const result = verify({ headers: { ...base, ...patch }, body, secrets: [secret], now });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.code).toBe(code);
  });
});
