import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LookupFunction } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGuardedLookup, type BaseLookup } from '../url-guard.ts';
import { HOSTILE_ANSWERS, HOSTILE_BODIES, startRawReceiver, type RawAnswer } from '../../test/support/receiver.ts';
import { createTransport, type PostResponse, type PostResult, type Transport, type TransportOptions } from './transport.ts';

/** A loopback receiver that records what reached it. */
interface TestServer {
  url: string;
  port: number;
  /** Requests whose headers arrived, with their bodies. */
  requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  /** TCP connections accepted. */
  connections: number;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function startServer(respond: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      state.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      respond(req, res);
    });
  });
  server.on('connection', () => state.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const state: TestServer = { url: `http://127.0.0.1:${port}`, port, requests: [], connections: 0 };
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return state;
}

function transport(options: TransportOptions = {}): Transport {
  const created = createTransport(options);
  cleanups.push(() => created.close());
  return created;
}

/** A lookup that resolves every name to 127.0.0.1 and records the names it was asked. */
function loopbackLookup(asked: string[]): LookupFunction {
  return (hostname, options, callback) => {
    asked.push(hostname);
    if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  };
}

function expectResponse(result: PostResult): PostResponse {
  expect(result.kind, JSON.stringify(result)).toBe('response');
  return result as PostResponse;
}

function expectError(result: PostResult, error: string): void {
  expect(result, JSON.stringify(result)).toMatchObject({ kind: 'error', error });
}

const json = { 'content-type': 'application/json' };

describe('createTransport: responses', () => {
  it('returns status, lower-case headers and the first 2 KiB of the body', async () => {
    const body = 'a'.repeat(2048) + 'b'.repeat(8000);
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Retry-After': '120' }).end(body);
    });

    const result = expectResponse(await transport().post(`${server.url}/hook`, '{}', json));

    expect(result.status).toBe(200);
    expect(result.statusText).toBe('OK');
    expect(result.body.toString()).toBe('a'.repeat(2048));
    expect(result.bytesRead).toBe(body.length);
    expect(result.truncated).toBe(false);
    expect(result.headers['content-type']).toBe('text/plain');
    expect(result.headers['retry-after']).toBe('120');
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('stops reading a 5 MB body past maxResponseBytes and cuts the connection', async () => {
    const total = 5 * 1024 * 1024;
    let served: Promise<{ finished: boolean; written: number }> | undefined;
    const server = await startServer((_req, res) => {
      let written = 0;
      const chunk = Buffer.alloc(64 * 1024, 'x');
      async function* body(): AsyncGenerator<Buffer> {
        for (; written < total; written += chunk.length) yield chunk;
      }
      res.writeHead(200, { 'content-length': String(total) });
      served = pipeline(Readable.from(body()), res).then(
        () => ({ finished: true, written }),
        () => ({ finished: false, written }),
      );
    });

    const result = expectResponse(await transport().post(server.url, '{}', json));

    expect(result.status).toBe(200);
    expect(result.truncated).toBe(true);
    expect(result.body.toString()).toBe('x'.repeat(2048));
    const { finished, written } = await served!;
    expect(finished).toBe(false);
    expect(written).toBeLessThan(total);
  });

  it('returns a 500 with its body', async () => {
    const server = await startServer((_req, res) => res.writeHead(500).end('boom'));

    const result = expectResponse(await transport().post(server.url, '{}', json));

    expect(result).toMatchObject({ status: 500, body: Buffer.from('boom'), truncated: false });
  });

  it('reports the final response after an informational 103', async () => {
    const server = await startServer((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(202, { 'x-final': 'yes' }).end('accepted');
    });

    const result = expectResponse(await transport().post(server.url, '{}', json));

    expect(result).toMatchObject({ status: 202, body: Buffer.from('accepted') });
    expect(result.headers['x-final']).toBe('yes');
    expect(result.headers.link).toBeUndefined();
  });

  it('does not follow a redirect', async () => {
    const target = await startServer((_req, res) => res.end('moved here'));
    const server = await startServer((_req, res) => {
      res.writeHead(301, { location: `${target.url}/new` }).end();
    });

    const result = expectResponse(await transport().post(server.url, '{}', json));

    expect(result.status).toBe(301);
    expect(result.headers.location).toBe(`${target.url}/new`);
    expect(target.requests).toHaveLength(0);
  });

  it('sends the caller headers, a default user-agent and the body as given', async () => {
    const server = await startServer((_req, res) => res.end());
    const body = JSON.stringify({ type: 'estate.updated', data: { id: 'é' } });

    await transport({ userAgent: 'hubhook-test/1' }).post(`${server.url}/hooks/in?x=1`, body, {
      ...json,
      'webhook-id': 'msg_123',
      'webhook-timestamp': '1700000000',
      'webhook-signature': 'v1,abc=',
    });

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/hooks/in?x=1', body });
    expect(request!.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'hubhook-test/1',
      'webhook-id': 'msg_123',
      'webhook-timestamp': '1700000000',
      'webhook-signature': 'v1,abc=',
    });
  });

  it('reuses keep-alive connections', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const client = transport({ connectionsPerOrigin: 2 });

    for (let i = 0; i < 10; i++) expectResponse(await client.post(server.url, '{}', json));
    const parallel = await Promise.all(Array.from({ length: 20 }, () => client.post(server.url, '{}', json)));

    expect(parallel.every((result) => result.kind === 'response' && result.status === 200)).toBe(true);
    expect(server.requests).toHaveLength(30);
    expect(server.connections).toBeLessThanOrEqual(2);
  });
});

describe('createTransport: failures', () => {
  it('times out on a server that never answers, and drops the connection', async () => {
    let closed: Promise<unknown> | undefined;
    const server = await startServer((_req, res) => {
      closed = once(res, 'close');
    });

    const result = await transport({ timeoutMs: 300 }).post(server.url, '{}', json);

    expectError(result, 'timeout');
    expect(server.requests).toHaveLength(1);
    await closed;
  });

  it('times out a request still queued for a busy connection, and never sends it', async () => {
    // Long enough that the first request reaches the server even on a loaded machine.
    const server = await startServer(() => {});
    const client = transport({ timeoutMs: 1_500, connectionsPerOrigin: 1 });

    const results = await Promise.all([client.post(server.url, '{}', json), client.post(server.url, '{}', json)]);

    for (const result of results) expectError(result, 'timeout');
    await client.close(); // resolves only once no request is left in flight
    expect(server.requests).toHaveLength(1);
  });

  it('reports a refused connection', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    server.close();
    await once(server, 'close');

    expectError(await transport().post(`http://127.0.0.1:${port}/`, '{}', json), 'refused');
  });

  it('reports a connection the server drops as reset', async () => {
    const server = await startServer((req) => req.socket.destroy());

    expectError(await transport().post(server.url, '{}', json), 'reset');
  });

  it('reports a failed TLS handshake as tls', async () => {
    const server = await startServer((_req, res) => res.end('plain http'));

    expectError(await transport().post(`https://127.0.0.1:${server.port}/`, '{}', json), 'tls');
  });

  it('reports a bad or non-http URL as other, without throwing', async () => {
    const client = transport();

    expectError(await client.post('not a url', '{}', json), 'other');
    expectError(await client.post('ftp://127.0.0.1/', '{}', json), 'other');
  });
});

describe('createTransport: hostile receivers (raw TCP)', () => {
  async function raw(answer: RawAnswer): Promise<string> {
    const receiver = await startRawReceiver(answer);
    cleanups.push(() => receiver.close());
    return receiver.url;
  }

  it('keeps a body with NUL bytes and one that is not UTF-8 as the exact bytes', async () => {
    const client = transport();

    const nul = expectResponse(await client.post(await raw(HOSTILE_ANSWERS.nul), '{}', json));
    const invalid = expectResponse(await client.post(await raw(HOSTILE_ANSWERS.invalidUtf8), '{}', json));

    expect(nul.status).toBe(200);
    expect(nul.body.equals(HOSTILE_BODIES.nul)).toBe(true);
    expect(invalid.body.equals(HOSTILE_BODIES.invalidUtf8)).toBe(true);
  });

  it('reads at most 64 KiB of a 10 MiB body and keeps 2 KiB', async () => {
    const result = expectResponse(await transport().post(await raw(HOSTILE_ANSWERS.huge), '{}', json));

    expect(result).toMatchObject({ status: 200, truncated: true });
    expect(result.body).toHaveLength(2048);
    expect(result.bytesRead).toBeGreaterThan(65_536);
    expect(result.bytesRead).toBeLessThan(1024 * 1024);
  });

  it('ends a body that drips forever at the total deadline', async () => {
    const result = await transport({ timeoutMs: 800 }).post(await raw(HOSTILE_ANSWERS.drip), '{}', json);

    expectError(result, 'timeout');
    expect(result.durationMs).toBeGreaterThanOrEqual(790);
  });

  it('fails an unsolicited 100 Continue as protocol, and a 102 then silence at the deadline', async () => {
    const client = transport({ timeoutMs: 800 });

    const cont = await client.post(await raw(HOSTILE_ANSWERS.continueThenSilence), '{}', json);
    const silent = await client.post(await raw(HOSTILE_ANSWERS.processingThenSilence), '{}', json);

    expectError(cont, 'protocol');
    expect(cont).toMatchObject({ message: expect.stringContaining('100 Continue') });
    expectError(silent, 'timeout');
  });

  it('answers a 302 as a response and follows nothing', async () => {
    const result = expectResponse(await transport().post(await raw(HOSTILE_ANSWERS.redirect), '{}', json));

    expect(result).toMatchObject({ status: 302, statusText: 'Found', headers: { location: 'http://127.0.0.1:9/elsewhere' } });
  });

  it('fails 2000 headers and a garbage status line as protocol errors', async () => {
    const client = transport();

    const flood = await client.post(await raw(HOSTILE_ANSWERS.headerFlood), '{}', json);
    const garbage = await client.post(await raw(HOSTILE_ANSWERS.garbageStatus), '{}', json);

    expectError(flood, 'protocol');
    expect(flood).toMatchObject({ message: expect.stringContaining('Headers Overflow') });
    expectError(garbage, 'protocol');
  });

  it('reports a reset in the middle of the body as reset', async () => {
    expectError(await transport().post(await raw(HOSTILE_ANSWERS.resetMidBody), '{}', json), 'reset');
  });
});

describe('createTransport: address guard', () => {
  const refuseLoopback = (ip: string): string | null => (ip.startsWith('127.') ? 'loopback' : null);

  it('refuses an IP-literal host checkAddress forbids, before connecting', async () => {
    const server = await startServer((_req, res) => res.end());
    const checked: string[] = [];
    const client = transport({
      checkAddress: (ip) => {
        checked.push(ip);
        return refuseLoopback(ip);
      },
    });

    const result = await client.post(server.url, '{}', json);

    expectError(result, 'forbidden_address');
    expect(result).toMatchObject({ message: expect.stringContaining('127.0.0.1') });
    expect(checked).toEqual(['127.0.0.1']);
    expect(server.connections).toBe(0);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a name whose connected address checkAddress forbids, writing no request', async () => {
    const server = await startServer((_req, res) => res.end());
    const client = transport({ lookup: loopbackLookup([]), checkAddress: refuseLoopback });

    expectError(await client.post(`http://receiver.test:${server.port}/`, '{}', json), 'forbidden_address');
    expect(server.requests).toHaveLength(0);
  });

  it('lets through an address checkAddress allows', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const client = transport({ checkAddress: () => null });

    expect(expectResponse(await client.post(server.url, '{}', json)).status).toBe(200);
  });

  it('resolves host names with the given lookup', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const asked: string[] = [];
    const client = transport({ lookup: loopbackLookup(asked) });

    const result = expectResponse(await client.post(`http://receiver.test:${server.port}/hook`, '{}', json));

    expect(result.body.toString()).toBe('ok');
    expect(asked).toEqual(['receiver.test']);
    expect(server.requests[0]!.headers.host).toBe(`receiver.test:${server.port}`);
  });

  it('reports a lookup failure as dns', async () => {
    const asked: string[] = [];
    const lookup: LookupFunction = (hostname, _options, callback) => {
      asked.push(hostname);
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    };

    expectError(await transport({ lookup }).post('http://nowhere.test/', '{}', json), 'dns');
    expect(asked).toEqual(['nowhere.test']);
  });

  it('works with the url guard: its lookup refuses a forbidden name before connecting', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const toLoopback: BaseLookup = (_hostname, _options, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }]);
    const guarded = transport({ lookup: createGuardedLookup({ allow: [], httpsOnly: false }, toLoopback) });
    const allowed = transport({ lookup: createGuardedLookup({ allow: ['127.0.0.0/8'], httpsOnly: false }, toLoopback) });
    const url = `http://receiver.test:${server.port}/`;

    expectError(await guarded.post(url, '{}', json), 'forbidden_address');
    expect(server.connections).toBe(0);
    expect(expectResponse(await allowed.post(url, '{}', json)).status).toBe(200);
  });
});
