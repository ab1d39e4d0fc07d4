import type { Request } from 'express';
import type { Logger } from '#shared/logger';
import type { Principal } from './auth.ts';

/**
 * Who a service acts for: the authenticated principal (null on a public route, until a
 * sign-in makes one), the request's id (audit records carry it) and the request's logger.
 * Services take this instead of express's `Request`, so they can be called without HTTP.
 */
export interface Actor<P extends Principal | null = Principal> {
  principal: P;
  requestId: string;
  log: Logger;
}

/** The actor of a partner's request. */
export type PartnerActor = Actor<Extract<Principal, { kind: 'partner' }>>;

/** The actor of a request: its principal, id and logger (pino-http sets both on every request). */
export function actorOf<P extends Principal | null>(req: Request, principal: P): Actor<P> {
  return { principal, requestId: typeof req.id === 'string' ? req.id : String(req.id ?? ''), log: req.log };
}
