/**
 * The delivery HTTP transport: one POST to a webhook receiver, answered by a `PostResult`.
 *
 * Failure policy: `post` never throws. Every network outcome (timeout, DNS failure, refused or
 * reset connection, TLS failure, forbidden address, an answer that is not valid HTTP) comes
 * back as `{ kind: 'error' }`, and every HTTP answer, whatever its status (3xx included:
 * redirects are not followed), as `{ kind: 'response' }`. Nothing a receiver sends can make a
 * request outlast `timeoutMs` (a body that drips, a 1xx then silence) or hold more than
 * `maxResponseBytes` of body and undici's 16 KiB of response head (a header flood fails as
 * `protocol`); the body is kept as bytes, never decoded here. Deciding what counts as success, and when to retry, is the caller's.
 * The address guard fails closed: an address `checkAddress` refuses, or a socket whose remote
 * address cannot be read, gets no request written to it.
 *
 * Implementation, chosen by `scripts/bench/raw-post.ts`: 2-core box, loopback receiver in its
 * own process, 64 POSTs of 1 KiB JSON in flight, per client 1 s warm-up then 4 s measured in
 * 500 ms turns interleaved with the other clients. Run of 2026-11-28 15:12, machine quiet:
 *
 *   client                       req/s   vs fastest   client CPU µs/req
 *   undici Pool                 31 850     100 %          30
 *   this transport (64 conns)   27 928      88 %          35
 *   this transport (16 conns)   27 284      86 %          35
 *   undici request + Agent      23 655      74 %          42
 *   node:http keep-alive Agent  14 013      44 %          71
 *   got                          3 145      10 %         366
 *
 * Three quiet runs in a row put the transport at 88-100 % of the fastest (64 conns; 86-100 %
 * with 16) and at 30-36 µs of client CPU per request, against 30-32 for a bare Pool, 42-50 for
 * undici.request, 62-71 for node:http and 366-390 for got. While other processes load the box,
 * req/s drops and scatters (up to 2x between runs); CPU per request moves much less.
 *
 * So: an undici `Agent` (one keep-alive Pool per receiver origin) driven through the
 * low-level `dispatch` API with a small handler. That costs about what a bare Pool costs, as
 * it skips the body stream `pool.request` and `undici.request` build for every response, and
 * it makes the response limits cheap: the handler counts body bytes as they arrive, keeps the
 * first `keepBytes`, and cuts the connection past `maxResponseBytes`. got spends 10x the CPU
 * on hooks and retries that delivery does not want. The 16-connection default costs little
 * throughput here and bounds how many sockets one receiver can hold.
 */
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { Agent, buildConnector, errors, type Dispatcher } from 'undici';
import { ForbiddenAddressError } from '../url-guard.ts';

/** Options of `createTransport`; every field is optional, see `DEFAULT_TRANSPORT_OPTIONS`. */
export interface TransportOptions {
  /** Whole-request deadline: waiting for a pooled connection, connect, TLS, headers and body. */
  timeoutMs?: number;
  /** Response body bytes read at most; past this the connection is closed, not drained. */
  maxResponseBytes?: number;
  /** Leading response body bytes kept in `PostResponse.body`. */
  keepBytes?: number;
  /** Keep-alive sockets per receiver origin; further requests queue for a free one. */
  connectionsPerOrigin?: number;
  /**
   * DNS lookup for every connection to a host name (default `dns.lookup`); in delivery, the
   * url guard's `createGuardedLookup`, whose `ForbiddenAddressError` is reported as
   * `forbidden_address`. Node never calls it for IP-literal hosts: `checkAddress` covers those.
   */
  lookup?: LookupFunction;
  /**
   * Address check, returning a reason to refuse or null to allow. Applied to an IP-literal
   * host before connecting, and to every new socket's remote address before any request
   * byte is written to it. A refusal fails the request as `forbidden_address`.
   */
  checkAddress?: (ip: string) => string | null;
  /** `user-agent` header, unless the caller's headers carry one (named in lower case). */
  userAgent?: string;
}

/** Defaults of `TransportOptions`, matching the delivery contract in docs/receivers.md. */
export const DEFAULT_TRANSPORT_OPTIONS = {
  timeoutMs: 15_000,
  maxResponseBytes: 65_536,
  keepBytes: 2_048,
  connectionsPerOrigin: 16,
  userAgent: 'hubhook',
} satisfies TransportOptions;

/** How a request failed before a complete answer arrived. */
export type TransportErrorKind =
  | 'timeout'
  | 'dns'
  | 'refused'
  | 'reset'
  | 'tls'
  | 'forbidden_address'
  /** The answer is not valid HTTP/1.1: a garbage status line, a header flood, an unsolicited 100. */
  | 'protocol'
  | 'other';

/** The receiver answered (any status). */
export interface PostResponse {
  kind: 'response';
  status: number;
  /** The reason phrase of the status line, as sent (may be empty). */
  statusText: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The first `keepBytes` of the body, exactly as sent: bytes, which need not be text. */
  body: Buffer;
  /** Body bytes read in all; more than `body.length` when the rest was read and not kept. */
  bytesRead: number;
  /** True when the body ran past `maxResponseBytes` and the connection was cut there. */
  truncated: boolean;
  durationMs: number;
}

/** No complete answer: the request failed or timed out. */
export interface PostError {
  kind: 'error';
  error: TransportErrorKind;
  message: string;
  durationMs: number;
}

/** The outcome of one POST. */
export type PostResult = PostResponse | PostError;

/** A pool of keep-alive connections that POSTs to receivers. */
export interface Transport {
  /** POSTs `body` to `url`; resolves with the outcome, never rejects. */
  post(url: string | URL, body: string | Buffer, headers: Record<string, string>): Promise<PostResult>;
  /** Lets in-flight requests finish (each is bounded by `timeoutMs`), then closes all sockets; idempotent. */
  close(): Promise<void>;
}

/** Creates a transport; call `close()` when done with it. */
export function createTransport(options: TransportOptions = {}): Transport {
  const opts = { ...DEFAULT_TRANSPORT_OPTIONS, ...options };
  const agent = new Agent({
    connections: opts.connectionsPerOrigin,
    // Our own timer bounds the whole request, so undici's per-phase timers are off; the
    // connect timeout stays on so that a black-holed connect frees its pool slot.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: guardConnector(
      buildConnector({ timeout: opts.timeoutMs, lookup: opts.lookup }),
      opts.checkAddress,
    ),
  });
  let closing: Promise<void> | undefined;
  const limits = { keepBytes: Math.min(opts.keepBytes, opts.maxResponseBytes), maxResponseBytes: opts.maxResponseBytes };

  return {
    post(url, body, headers) {
      const startedAt = performance.now();
      return new Promise<PostResult>((resolve) => {
        const handler = new PostHandler(limits, startedAt, resolve);
        let target: URL;
        try {
          target = typeof url === 'string' ? new URL(url) : url;
        } catch (err) {
          handler.fail('other', (err as Error).message);
          return;
        }
        if (target.protocol !== 'http:' && target.protocol !== 'https:') {
          handler.fail('other', `unsupported protocol ${target.protocol}`);
          return;
        }
        handler.startTimer(opts.timeoutMs);
        agent.dispatch(
          {
            origin: target.origin,
            path: target.pathname + target.search,
            method: 'POST',
            headers: { 'user-agent': opts.userAgent, ...headers },
            body,
          },
          handler,
        );
      });
    },
    close: () => (closing ??= agent.close()),
  };
}

/**
 * Wraps undici's connector with the address check: an IP-literal host is refused before
 * connecting; any other socket is checked on connect, before undici may write to it.
 */
function guardConnector(
  connect: buildConnector.connector,
  checkAddress: TransportOptions['checkAddress'],
): buildConnector.connector {
  if (checkAddress === undefined) return connect;
  return (target, callback) => {
    if (isIP(target.hostname) !== 0) {
      const reason = checkAddress(target.hostname);
      if (reason !== null) {
        const err = new ForbiddenAddressError(target.hostname, target.hostname, reason);
        queueMicrotask(() => callback(err, null));
        return;
      }
    }
    connect(target, (err, socket) => {
      if (err !== null) return callback(err, null);
      const ip = (socket as Socket).remoteAddress;
      const reason = ip === undefined ? 'remote address unknown' : checkAddress(ip);
      if (reason === null) return callback(null, socket);
      socket.destroy();
      callback(new ForbiddenAddressError(target.hostname, ip ?? 'unknown', reason), null);
    });
  };
}

type Limits = { keepBytes: number; maxResponseBytes: number };

/** Collects one response within the limits and settles the `post` promise exactly once. */
class PostHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the request's time is up (performance.now() ms); a request not yet started by then is never sent. */
  private deadline = Infinity;
  /** Least time left with which a queued request is still sent. */
  private minLeftMs = 0;
  private settled = false;
  private status = 0;
  private statusText = '';
  private headers: Record<string, string> = {};
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private readBytes = 0;

  constructor(
    private readonly limits: Limits,
    private readonly startedAt: number,
    private readonly resolve: (result: PostResult) => void,
  ) {}

  startTimer(timeoutMs: number): void {
    this.deadline = this.startedAt + timeoutMs;
    this.minLeftMs = Math.min(100, timeoutMs / 10);
    this.timer = setTimeout(() => {
      this.fail('timeout', `no complete response within ${timeoutMs} ms`);
      // Before the request is started (still queued or connecting) there is nothing to
      // abort yet: onRequestStart aborts it when it gets there.
      this.controller?.abort(new Error('timeout'));
    }, timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // A queued request is not sent with almost none of its time left (a tenth of the timeout, at
    // most 100 ms), nor past it while its timer has not run yet (a busy loop runs timers late,
    // and a connection freed by another request's timeout may come first): the receiver would
    // likely see a request cut off at once, which it may still act on, and the retry would
    // deliver it twice.
    if (!this.settled && performance.now() >= this.deadline - this.minLeftMs) this.fail('timeout', `no complete response within ${Math.round(this.deadline - this.startedAt)} ms`);
    if (this.settled) controller.abort(new Error('timeout'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
    statusText: string,
  ): void {
    // Called again after an informational 1xx: only the final response's headers count.
    this.status = status;
    this.statusText = statusText;
    this.headers = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) this.headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.readBytes += chunk.length;
    if (this.keptBytes < this.limits.keepBytes) {
      const slice = chunk.subarray(0, this.limits.keepBytes - this.keptBytes);
      this.kept.push(slice);
      this.keptBytes += slice.length;
    }
    if (this.readBytes > this.limits.maxResponseBytes) {
      // Enough read: answer with what we have and close the connection rather than drain it.
      this.respond(true);
      controller.abort(new Error('response body over maxResponseBytes'));
    }
  }

  onResponseEnd(): void {
    this.respond(false);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.fail(classifyError(err), describeError(err));
  }

  fail(error: TransportErrorKind, message: string): void {
    this.settle({ kind: 'error', error, message, durationMs: performance.now() - this.startedAt });
  }

  private respond(truncated: boolean): void {
    this.settle({
      kind: 'response',
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
      body: Buffer.concat(this.kept, this.keptBytes),
      bytesRead: this.readBytes,
      truncated,
      durationMs: performance.now() - this.startedAt,
    });
  }

  private settle(result: PostResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.resolve(result);
  }
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME', 'ENODATA', 'ESERVFAIL']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const PROTOCOL_CODES = new Set(['UND_ERR_HEADERS_OVERFLOW', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE']);
// undici's SocketError for an answer it cannot take: an unsolicited 100 Continue, a response
// before the request, an upgrade nobody asked for. Same code as a reset, so told by message.
const PROTOCOL_SOCKET_MESSAGES = new Set(['bad response', 'bad upgrade']);

/** Maps a Node or undici error (or its cause) to a transport error kind; unknown ones are 'other'. */
export function classifyError(err: unknown): TransportErrorKind {
  for (let e = err; e instanceof Error; e = e.cause) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (e instanceof ForbiddenAddressError) return 'forbidden_address';
    if (code === 'ECONNREFUSED') return 'refused';
    if ((code !== undefined && DNS_CODES.has(code)) || syscall === 'getaddrinfo') return 'dns';
    // llhttp's parse errors (a garbage status line, bad chunking, ...), not always with a code.
    if (e instanceof errors.HTTPParserError || (code !== undefined && (PROTOCOL_CODES.has(code) || code.startsWith('HPE_')))) return 'protocol';
    if (code === 'UND_ERR_SOCKET' && PROTOCOL_SOCKET_MESSAGES.has(e.message)) return 'protocol';
    if (code !== undefined && RESET_CODES.has(code)) return 'reset';
    if (code !== undefined && TIMEOUT_CODES.has(code)) return 'timeout';
    if (code !== undefined && /^ERR_(TLS|SSL)_|CERT|UNABLE_TO_VERIFY/.test(code)) return 'tls';
  }
  return 'other';
}

/** A one-line message naming the error's code, e.g. "ERR_SSL_WRONG_VERSION_NUMBER: ...". */
function describeError(err: Error): string {
  const { code } = err as NodeJS.ErrnoException;
  const message = err.message.trim();
  const named = code === undefined || message.includes(code) ? message : `${code}: ${message}`;
  return code === 'UND_ERR_SOCKET' && PROTOCOL_SOCKET_MESSAGES.has(message)
    ? `${named} (an informational 100 Continue nobody asked for, or an answer to no request)`
    : named;
}
