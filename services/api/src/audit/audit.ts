import type { Db } from '#shared/db/knex';
import type { Actor } from '../http/actor.ts';
import type { Principal } from '../http/auth.ts';

/** One change to record: what was done, to what, by the actor's principal. */
export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string;
  /** The partner the change concerns (for a partner's own changes, theirs). */
  partnerId?: string | null;
  /** What changed; never secrets. */
  data?: Record<string, unknown>;
}

function actorOf(principal: Principal): { actor_type: string; actor_id: string | null } {
  if (principal.kind === 'partner') return { actor_type: 'partner', actor_id: principal.userId ?? principal.keyId };
  return { actor_type: principal.kind, actor_id: null };
}

/**
 * Records who changed what, when. Call it inside the transaction of the change itself, so a
 * change and its audit record commit (or fail) together.
 */
export async function recordAudit(db: Db, actor: Actor, entry: AuditEntry): Promise<void> {
  const { principal } = actor;
  await db('audit_log').insert({
    ...actorOf(principal),
    partner_id: entry.partnerId ?? (principal.kind === 'partner' ? principal.partnerId : null),
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    data: JSON.stringify(entry.data ?? {}),
    request_id: actor.requestId,
  });
}
