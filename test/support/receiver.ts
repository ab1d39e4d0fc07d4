import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

/** One request a test receiver got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  receivedAt: number;
}

/** What the receiver answers; may wait (a slow or hanging receiver). */
export type ReceiverBehaviour = (req: ReceivedRequest, n: number) => Promise<{ status: number; body?: string; headers?: Record<string, string> }> | { status: number; body?: string; headers?: Record<string, string> };

/** A real HTTP receiver on loopback that records what it gets. */
export interface TestReceiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  behave(behaviour: ReceiverBehaviour): void;
  /** Resolves when at least `count` requests arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** The requests a receiver got, and a wait for their count (both receivers keep them this way). */
function requestLog<R>(what: string) {
  const requests: R[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  return {
    requests,
    record(request: R): void {
      requests.push(request);
      const due = waiters.filter((w) => requests.length >= w.count);
      waiters = waiters.filter((w) => requests.length < w.count);
      for (const w of due) w.resolve();
    },
    /** Resolves when at least `count` requests arrived (or rejects after `timeoutMs`). */
    waitFor(count: number, timeoutMs = 15_000): Promise<R[]> {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what} got ${requests.length} of ${count} requests`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        });
      });
    },
  };
}

/** Starts a receiver on 127.0.0.1 (port 0); it answers 200 until told otherwise. */
export async function startReceiver(path = '/hook'): Promise<TestReceiver> {
  const log = requestLog<ReceivedRequest>('receiver');
  let behaviour: ReceiverBehaviour = () => ({ status: 200, body: 'ok' });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
      };
      log.record(received);
      try {
        const answer = await behaviour(received, log.requests.length);
        if (res.destroyed) return;
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(answer.body ?? '');
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    requests: log.requests,
    behave(next) {
      behaviour = next;
    },
    waitFor: log.waitFor,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port with nothing listening on it (bound, then released): a receiver that refuses connections. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One request a raw TCP receiver read: its head as text and its body bytes. */
export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * How a raw receiver answers: it writes whatever bytes it likes to the socket (and may keep it
 * open, drip, or reset it). Called once per request read; the socket's 'close' ends any timers.
 */
export type RawAnswer = (socket: Socket, request: RawRequest, n: number) => void;

/** A receiver that speaks TCP, not HTTP: for answers no HTTP server library would send. */
export interface RawReceiver {
  url: string;
  requests: RawRequest[];
  /** Resolves when at least `count` requests arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<RawRequest[]>;
  close(): Promise<void>;
}

/**
 * Starts a node:net server on 127.0.0.1 that reads each HTTP/1.1 request (head, then a
 * content-length body) and hands the socket to `answer`. Requests on one connection are
 * answered in turn; most answers close the connection.
 */
export async function startRawReceiver(answer: RawAnswer, path = '/hook'): Promise<RawReceiver> {
  const log = requestLog<RawRequest>('raw receiver');
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [line = '', ...fields] = pending.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const field of fields) {
          const colon = field.indexOf(':');
          if (colon > 0) headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (pending.length < end + 4 + length) return;
        const [method = '', target = ''] = line.split(' ');
        const request: RawRequest = { method, path: target, headers, body: Buffer.from(pending.subarray(end + 4, end + 4 + length)) };
        pending = pending.subarray(end + 4 + length);
        log.record(request);
        answer(socket, request, log.requests.length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    requests: log.requests,
    waitFor: log.waitFor,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A complete HTTP/1.1 response head (status line, headers, blank line) as bytes. */
function head(statusLine: string, headers: [string, string][]): Buffer {
  return Buffer.from(`${statusLine}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1');
}

/** Answers 200 with exactly `body` (any bytes), then closes the connection. */
export function rawBody(body: Buffer, status = '200 OK'): RawAnswer {
  return (socket) => {
    socket.end(Buffer.concat([head(`HTTP/1.1 ${status}`, [['content-type', 'application/octet-stream'], ['content-length', String(body.length)], ['connection', 'close']]), body]));
  };
}

/** Bodies hostile receivers answer 200 with: bytes text columns and JSON cannot hold as they are. */
export const HOSTILE_BODIES = {
  /** NUL bytes inside an otherwise plain body. */
  nul: Buffer.from('ok\u0000after a NUL\u0000', 'latin1'),
  /** Not UTF-8: a lone continuation byte, 0xFF/0xFE, a truncated two-byte sequence. */
  invalidUtf8: Buffer.from([0x6f, 0x6b, 0x20, 0x80, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]),
};

/**
 * Raw answers of hostile receivers, each one thing no well-behaved HTTP server sends.
 * Timers stop when the socket closes, so an answer that never ends ends with its connection.
 */
export const HOSTILE_ANSWERS = {
  /** 200 with NUL bytes in the body. */
  nul: rawBody(HOSTILE_BODIES.nul),
  /** 200 with a body that is not UTF-8. */
  invalidUtf8: rawBody(HOSTILE_BODIES.invalidUtf8),
  /** 200 with a 10 MiB body, written as the socket drains. */
  huge: ((socket) => {
    const total = 10 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    socket.write(head('HTTP/1.1 200 OK', [['content-length', String(total)], ['connection', 'close']]));
    const pump = () => {
      while (written < total && !socket.destroyed) {
        written += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  }) satisfies RawAnswer,
  /** 200, then a body of one byte every 100 ms, forever. */
  drip: ((socket) => {
    socket.write(head('HTTP/1.1 200 OK', [['content-length', String(1 << 30)]]));
    const timer = setInterval(() => socket.write('.'), 100);
    socket.on('close', () => clearInterval(timer));
  }) satisfies RawAnswer,
  /** An informational `100 Continue`, then silence with the connection open. */
  continueThenSilence: ((socket) => {
    socket.write('HTTP/1.1 100 Continue\r\n\r\n');
  }) satisfies RawAnswer,
  /** An informational `102 Processing` (which undici passes on), then silence. */
  processingThenSilence: ((socket) => {
    socket.write('HTTP/1.1 102 Processing\r\n\r\n');
  }) satisfies RawAnswer,
  /** A 302 redirect to somewhere else. */
  redirect: ((socket) => {
    socket.end(head('HTTP/1.1 302 Found', [['location', 'http://127.0.0.1:9/elsewhere'], ['content-length', '0'], ['connection', 'close']]));
  }) satisfies RawAnswer,
  /** A 200 with 2000 headers. */
  headerFlood: ((socket) => {
    const headers = Array.from({ length: 2000 }, (_, i): [string, string] => [`x-flood-${i}`, 'flood']);
    socket.end(Buffer.concat([head('HTTP/1.1 200 OK', [...headers, ['content-length', '2'], ['connection', 'close']]), Buffer.from('ok')]));
  }) satisfies RawAnswer,
  /** 200 and half the promised body, then a TCP reset. */
  resetMidBody: ((socket) => {
    socket.write(Buffer.concat([head('HTTP/1.1 200 OK', [['content-length', '1000']]), Buffer.alloc(500, 'r')]), () => socket.resetAndDestroy());
  }) satisfies RawAnswer,
  /** A status line that is not HTTP at all. */
  garbageStatus: ((socket) => {
    socket.end(Buffer.from('HTTZ/9.9 two-hundred \u0001\u0000 okay?\r\ncontent-length: 0\r\n\r\n', 'latin1'));
  }) satisfies RawAnswer,
};

/** The name of one hostile answer. */
export type HostileAnswerName = keyof typeof HOSTILE_ANSWERS;
