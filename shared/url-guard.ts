/**
 * SSRF guard for receiver URLs (verification and delivery).
 *
 * Two layers, both needed:
 * - `checkUrl` runs when a URL is accepted and before each request: form, scheme, credentials,
 *   length, and IP-literal hosts in every spelling the WHATWG parser normalises. Node's `net`
 *   never calls `lookup` for an IP-literal host, so this is the only check an IP literal gets.
 * - `createGuardedLookup` is installed as the agent's `lookup` and checks every address a name
 *   resolves to at connect time, so DNS rebinding (public at check time, private at connect
 *   time) cannot slip past.
 *
 * Failure policy: fail closed. Anything unparsable or unrecognised is refused; only addresses
 * in public unicast space, or admitted by the ALLOW_PRIVATE_RECEIVERS allow-list, pass.
 */
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;
type Addr = IPv4 | IPv6;

/** Allow-list (CIDRs, IPs and exact host names from ALLOW_PRIVATE_RECEIVERS) and whether http is refused. */
export type GuardPolicy = { allow: string[]; httpsOnly: boolean };

/** Why `checkUrl` refused a URL. */
export type UrlCheckCode =
  | 'invalid_url'
  | 'url_too_long'
  | 'unsupported_scheme'
  | 'https_required'
  | 'credentials_in_url'
  | 'missing_host'
  | 'forbidden_address';

/** Result of `checkUrl`; on success use `url.href` (normalised) from here on, not the raw string. */
export type UrlCheckResult = { ok: true; url: URL } | { ok: false; code: UrlCheckCode; reason: string };

/** Longest receiver URL accepted. */
export const MAX_URL_LENGTH = 2048;

/** Raised by the guarded lookup when a name resolves to a forbidden address. */
export class ForbiddenAddressError extends Error {
  override readonly name = 'ForbiddenAddressError';
  readonly code = 'ERR_FORBIDDEN_ADDRESS';
  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(`${hostname} resolves to ${address}, a forbidden (${reason}) address`);
  }
}

/** Raised for an unusable allow-list entry (a configuration error: stop at startup). */
export class UrlGuardConfigError extends Error {
  override readonly name = 'UrlGuardConfigError';
  readonly code = 'invalid_allow_entry';
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`ALLOW_PRIVATE_RECEIVERS: ${reason}: "${entry}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Address classification

type Range = readonly [Addr, number, string];

const cidr = (s: string, reason: string): Range => {
  const [addr, bits] = ipaddr.parseCIDR(s);
  return [addr, bits, reason];
};

// Order matters: the first match wins, so single metadata addresses precede their wider ranges.
// Metadata endpoints: AWS/GCP/Azure IMDS, AWS ECS task and EKS pod identity, Alibaba, Oracle,
// Azure WireServer (a public-looking address that only the host answers).
const V4_RANGES: readonly Range[] = [
  cidr('169.254.169.254/32', 'metadata'),
  cidr('169.254.170.2/32', 'metadata'),
  cidr('169.254.170.23/32', 'metadata'),
  cidr('100.100.100.200/32', 'metadata'),
  cidr('192.0.0.192/32', 'metadata'),
  cidr('168.63.129.16/32', 'metadata'),
  cidr('0.0.0.0/8', 'unspecified'), // "this network"; Linux connects 0.0.0.0 to the local host
  cidr('10.0.0.0/8', 'private'),
  cidr('172.16.0.0/12', 'private'),
  cidr('192.168.0.0/16', 'private'),
  cidr('127.0.0.0/8', 'loopback'),
  cidr('169.254.0.0/16', 'link_local'),
  cidr('100.64.0.0/10', 'cgnat'),
  cidr('255.255.255.255/32', 'broadcast'),
  cidr('224.0.0.0/4', 'multicast'),
  cidr('240.0.0.0/4', 'reserved'),
  cidr('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  cidr('192.0.2.0/24', 'reserved'), // TEST-NET-1
  cidr('198.51.100.0/24', 'reserved'), // TEST-NET-2
  cidr('203.0.113.0/24', 'reserved'), // TEST-NET-3
  cidr('198.18.0.0/15', 'reserved'), // benchmarking
  cidr('192.88.99.0/24', 'reserved'), // deprecated 6to4 relay anycast
];

// Checked before the embedded-IPv4 unwrapping (:: and ::1 sit inside ::/96).
const V6_EXACT: readonly Range[] = [
  cidr('fd00:ec2::254/128', 'metadata'),
  cidr('fd00:ec2::23/128', 'metadata'),
  cidr('::/128', 'unspecified'),
  cidr('::1/128', 'loopback'),
];

const V6_RANGES: readonly Range[] = [
  cidr('fe80::/10', 'link_local'),
  cidr('fec0::/10', 'site_local'),
  cidr('fc00::/7', 'unique_local'),
  cidr('ff00::/8', 'multicast'),
  cidr('2001:db8::/32', 'reserved'), // documentation
  cidr('3fff::/20', 'reserved'), // documentation
  cidr('2001::/23', 'reserved'), // IETF protocol assignments (after Teredo is unwrapped below)
];

const [MAPPED, MAPPED_BITS] = ipaddr.parseCIDR('::ffff:0:0/96');
const [COMPAT, COMPAT_BITS] = ipaddr.parseCIDR('::/96');
const [TRANSLATED, TRANSLATED_BITS] = ipaddr.parseCIDR('::ffff:0:0:0/96');
const [NAT64, NAT64_BITS] = ipaddr.parseCIDR('64:ff9b::/96');
const [NAT64_LOCAL, NAT64_LOCAL_BITS] = ipaddr.parseCIDR('64:ff9b:1::/48');
const [SIX_TO_FOUR, SIX_TO_FOUR_BITS] = ipaddr.parseCIDR('2002::/16');
const [TEREDO, TEREDO_BITS] = ipaddr.parseCIDR('2001::/32');
const [GLOBAL_UNICAST, GLOBAL_UNICAST_BITS] = ipaddr.parseCIDR('2000::/3');

function firstMatch(addr: Addr, ranges: readonly Range[]): string | null {
  for (const [net, bits, reason] of ranges) {
    if (addr.kind() === net.kind() && addr.match(net, bits)) return reason;
  }
  return null;
}

const v4From = (hi: number, lo: number): IPv4 => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

function classifyV6(a: IPv6): string | null {
  const p = a.parts;
  const part = (i: number): number => p[i] ?? 0;
  const fixed = firstMatch(a, V6_EXACT);
  if (fixed !== null) return fixed;
  // Embedded IPv4 forms resolve to (or are routed to) the IPv4 address inside, so that address
  // decides. Mapped and well-known NAT64 are legitimate with a public inside; the deprecated or
  // unusual forms (compatible, SIIT-translated, 6to4, Teredo) are refused regardless.
  if (a.match(MAPPED, MAPPED_BITS) || a.match(NAT64, NAT64_BITS)) return classifyV4(v4From(part(6), part(7)));
  if (a.match(COMPAT, COMPAT_BITS) || a.match(TRANSLATED, TRANSLATED_BITS)) {
    return classifyV4(v4From(part(6), part(7))) ?? 'reserved';
  }
  if (a.match(NAT64_LOCAL, NAT64_LOCAL_BITS)) return 'reserved'; // site-specific translator
  if (a.match(SIX_TO_FOUR, SIX_TO_FOUR_BITS)) return classifyV4(v4From(part(1), part(2))) ?? 'reserved';
  if (a.match(TEREDO, TEREDO_BITS)) {
    // Client address is stored bit-inverted in the last 32 bits; the server is bits 32-63.
    const client = v4From(~part(6) & 0xffff, ~part(7) & 0xffff);
    return classifyV4(client) ?? classifyV4(v4From(part(2), part(3))) ?? 'reserved';
  }
  const special = firstMatch(a, V6_RANGES);
  if (special !== null) return special;
  // Outside 2000::/3 nothing is allocated for global unicast: refuse rather than enumerate.
  return a.match(GLOBAL_UNICAST, GLOBAL_UNICAST_BITS) ? null : 'reserved';
}

function classifyV4(a: IPv4): string | null {
  return firstMatch(a, V4_RANGES);
}

const V6_DOTTED_TAIL_RE = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIp(ip: string): Addr | null {
  let bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  // ipaddr.js reads "::a.b.c.d" as IPv4-mapped (::ffff:a.b.c.d), but it is IPv4-compatible
  // (::a.b.c.d), and glibc prints compatible addresses that way. Rewrite a dotted tail to two hex
  // groups first so the bits are exactly what inet_pton would produce.
  const m = bare.includes(':') ? V6_DOTTED_TAIL_RE.exec(bare) : null;
  if (m !== null) {
    const [b0, b1, b2, b3] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
    if (b0 > 255 || b1 > 255 || b2 > 255 || b3 > 255) return null;
    bare = `${m[1]}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  try {
    return ipaddr.parse(bare);
  } catch {
    return null;
  }
}

/** Returns why an IP address is forbidden as a receiver ('loopback', 'private', 'metadata', ...), or null when it is public. */
export function classifyAddress(ip: string): null | string {
  return classifyParsed(parseIp(ip));
}

function classifyParsed(addr: Addr | null): string | null {
  if (addr === null) return 'invalid_address';
  return addr.kind() === 'ipv4' ? classifyV4(addr as IPv4) : classifyV6(addr as IPv6);
}

// ---------------------------------------------------------------------------------------------
// Allow-list

type CompiledAllow = { nets: Array<readonly [Addr, number]>; names: Set<string> };

// Compiled once per allow array (policies are built at startup and never mutated).
const compiled = new WeakMap<readonly string[], CompiledAllow>();

const HOST_NAME_RE = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

const normaliseName = (host: string): string => host.toLowerCase().replace(/\.$/, '');

function compileEntry(raw: string, into: CompiledAllow): void {
  const entry = raw.trim();
  const bare = entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry;
  if (bare.includes('/')) {
    const [ip = '', bits = ''] = bare.split('/', 2);
    // Strict forms only: "10.1/8" means something different to every parser.
    if (isIP(ip) === 0 || !/^\d{1,3}$/.test(bits) || !ipaddr.isValidCIDR(bare)) throw new UrlGuardConfigError(raw, 'not a valid CIDR');
    into.nets.push(ipaddr.parseCIDR(bare));
  } else if (isIP(bare) !== 0) {
    const addr = ipaddr.parse(bare);
    into.nets.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
  } else if (HOST_NAME_RE.test(normaliseName(entry))) {
    into.names.add(normaliseName(entry));
  } else {
    throw new UrlGuardConfigError(raw, 'not an IP address, CIDR or host name');
  }
}

function compile(allow: readonly string[]): CompiledAllow {
  let c = compiled.get(allow);
  if (c === undefined) {
    c = { nets: [], names: new Set() };
    for (const entry of allow) if (entry.trim() !== '') compileEntry(entry, c);
    compiled.set(allow, c);
  }
  return c;
}

/** Parses ALLOW_PRIVATE_RECEIVERS ("127.0.0.0/8, ::1, localhost") into entries; throws `UrlGuardConfigError` on a bad one. */
export function parseAllowList(raw: string | undefined): string[] {
  const entries = (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  compile(entries);
  return entries;
}

function ipAllowed(addr: Addr, c: CompiledAllow): boolean {
  // An IPv4-mapped IPv6 address reaches the IPv4 host, so IPv4 entries apply to it as well.
  const alt = addr.kind() === 'ipv6' && (addr as IPv6).isIPv4MappedAddress() ? (addr as IPv6).toIPv4Address() : null;
  for (const [net, bits] of c.nets) {
    if (net.kind() === addr.kind() && addr.match(net, bits)) return true;
    if (alt !== null && net.kind() === 'ipv4' && alt.match(net, bits)) return true;
  }
  return false;
}

/** True if the allow-list admits this IP (CIDR match, IPv4-mapped unwrapped) or host name (exact, case-insensitive). */
export function isAllowed(hostOrIp: string, policy: GuardPolicy): boolean {
  const c = compile(policy.allow);
  const bare = hostOrIp.startsWith('[') && hostOrIp.endsWith(']') ? hostOrIp.slice(1, -1) : hostOrIp;
  if (isIP(bare) !== 0) {
    const addr = parseIp(bare);
    return addr !== null && ipAllowed(addr, c);
  }
  return c.names.has(normaliseName(bare));
}

// ---------------------------------------------------------------------------------------------
// Static URL check

const refuse = (code: UrlCheckCode, reason: string): UrlCheckResult => ({ ok: false, code, reason });

/** Statically checks a receiver URL: form, scheme, credentials, length, and IP-literal or localhost hosts. */
export function checkUrl(raw: string, policy: GuardPolicy): UrlCheckResult {
  if (typeof raw !== 'string') return refuse('invalid_url', 'URL must be a string');
  if (raw.length > MAX_URL_LENGTH) return refuse('url_too_long', `URL is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('invalid_url', 'not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return refuse('unsupported_scheme', `scheme ${url.protocol} is not allowed; use https`);
  if (policy.httpsOnly && url.protocol !== 'https:') return refuse('https_required', 'only https receivers are allowed in this environment');
  if (url.username !== '' || url.password !== '') return refuse('credentials_in_url', 'URL must not contain a user name or password');
  if (url.hostname === '') return refuse('missing_host', 'URL has no host');
  // Normalised URLs can grow (percent-encoding, IDNA), so the limit applies to what we store too.
  if (url.href.length > MAX_URL_LENGTH) return refuse('url_too_long', `URL is longer than ${MAX_URL_LENGTH} characters`);

  const host = url.hostname;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0) {
    const reason = classifyAddress(bare);
    if (reason !== null && !isAllowed(bare, policy)) return refuse('forbidden_address', reason);
  } else {
    // RFC 6761: localhost and *.localhost always mean this machine; refuse before any lookup.
    const name = normaliseName(host);
    if ((name === 'localhost' || name.endsWith('.localhost')) && !isAllowed(name, policy)) return refuse('forbidden_address', 'loopback');
  }
  return { ok: true, url };
}

// ---------------------------------------------------------------------------------------------
// Connect-time lookup

/** The resolver the guarded lookup wraps; always asked for all addresses. */
export type BaseLookup = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

// Looks dns.lookup up at call time (not bound at import) so tests can spy on it.
const systemLookup: BaseLookup = (hostname, options, callback) => dns.lookup(hostname, options, callback);

/**
 * Builds a `dns.lookup`-compatible function for `http.Agent({ lookup })` or undici
 * `Agent({ connect: { lookup } })`: fails with `ForbiddenAddressError` if ANY resolved address is
 * forbidden and not allow-listed (a host name on the allow-list admits whatever it resolves to).
 */
export function createGuardedLookup(policy: GuardPolicy, base: BaseLookup = systemLookup): LookupFunction {
  const c = compile(policy.allow); // throws now, at startup, on a bad allow-list
  type Callback = Parameters<LookupFunction>[2];
  // Node and undici always call (hostname, options, callback); the legacy (hostname, family, cb)
  // and (hostname, cb) forms of dns.lookup are tolerated too.
  function guardedLookup(hostname: string, ...rest: unknown[]): void {
    const [a, b] = rest;
    const cb = (typeof a === 'function' ? a : b) as Callback;
    const opts: dns.LookupOptions = typeof a === 'number' ? { family: a } : typeof a === 'object' && a !== null ? (a as dns.LookupOptions) : {};
    const wantAll = opts.all === true;
    const fail = (err: NodeJS.ErrnoException): void => cb(err, wantAll ? [] : '');

    const done = (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]): void => {
      if (err) return fail(err);
      if (addresses.length === 0) {
        return fail(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
      }
      if (!c.names.has(normaliseName(hostname))) {
        // Every address, not just the one Node will try first: happy-eyeballs may use any of them.
        for (const { address } of addresses) {
          const addr = parseIp(address);
          const reason = classifyParsed(addr);
          if (reason !== null && (addr === null || !ipAllowed(addr, c))) {
            return fail(new ForbiddenAddressError(hostname, address, reason));
          }
        }
      }
      if (wantAll) return cb(null, addresses);
      const first = addresses[0] as dns.LookupAddress; // length checked above
      return cb(null, first.address, first.family);
    };
    try {
      base(hostname, { ...opts, all: true }, done);
    } catch (err) {
      // dns.lookup throws synchronously on bad arguments; report it like any lookup failure.
      fail(err as NodeJS.ErrnoException);
    }
  }
  return guardedLookup;
}
