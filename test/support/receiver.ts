import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  requests: ReceivedRequest[];
  behave(behaviour: ReceiverBehaviour): void;
  /** Resolves when at least `count` requests arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 (port 0); it answers 200 until told otherwise. */
export async function startReceiver(path = '/hook'): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  let behaviour: ReceiverBehaviour = () => ({ status: 200, body: 'ok' });
  const waiters: { count: number; resolve: () => void }[] = [];
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
      requests.push(received);
      for (const w of waiters.filter((w) => requests.length >= w.count)) w.resolve();
      try {
        const answer = await behaviour(received, requests.length);
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
    requests,
    behave(next) {
      behaviour = next;
    },
    waitFor(count, timeoutMs = 15_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${requests.length} of ${count} requests`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        });
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
