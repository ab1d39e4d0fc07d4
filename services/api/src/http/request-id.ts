import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

// A caller's id is taken only if it is short and plain, so it cannot forge log lines.
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id: the caller's `x-request-id` when sane, else a new UUID; echoed back. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && ACCEPTABLE.test(given) ? given : randomUUID();
  res.setHeader('x-request-id', id);
  return id;
}
