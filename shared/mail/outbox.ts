import type { Config } from '../config.ts';
import type { Db } from '../db/knex.ts';
import type { Logger } from '../logger.ts';
import type { Queues } from '../queues/connection.ts';
import { newId } from '../ids.ts';
import type { Mailer } from './mailer.ts';
import type { MailRow } from '../db/rows.ts';

export type { MailRow };

/**
 * The mail outbox: every e-mail hubhook sends is first a row here, written in the transaction of
 * the change that causes it, then handed over by a `mail/send-mail` job (jobs carry the id).
 * Rows record what happened: `pending`, `sent` (accepted by the SMTP server), `outbox` (no SMTP
 * configured: the row is the delivery) or `failed` (every try used up).
 *
 * Sensitive mail (sign-in codes) keeps its body only until the SMTP server has it. With no SMTP
 * server the body stays in `test` (the outbox is then how a developer reads it); in `production`
 * it is never stored (`withholdSensitive`): nobody can read a code that was not e-mailed, so
 * e-mail sign-in needs SMTP_URL there.
 */

/** A mail to write. */
export interface NewMail {
  kind: string;
  to: string;
  subject: string;
  /** Null for a sensitive mail withheld by `withholdSensitive`. */
  text: string | null;
  /** Holds a secret (a sign-in code): never logged, body dropped once sent. */
  sensitive?: boolean;
}

/** True when sensitive bodies must not be stored: production with no mail server to hand them to. */
export const withholdsSensitive = (config: Pick<Config, 'env' | 'smtpUrl'>) => config.env === 'production' && !config.smtpUrl;

/**
 * The mail as it may be written: a sensitive one loses its body where `withholdsSensitive`
 * (its row still records that it was asked for, and when).
 */
export function withholdSensitive(config: Pick<Config, 'env' | 'smtpUrl'>, mail: NewMail): NewMail {
  return mail.sensitive && withholdsSensitive(config) ? { ...mail, text: null } : mail;
}

/** Writes a pending mail; returns its id. Call it inside the transaction of the change. */
export async function writeMail(db: Db, mail: NewMail): Promise<string> {
  const id = newId('mail');
  await db('mail_outbox').insert({
    id,
    kind: mail.kind,
    to_address: mail.to,
    subject: mail.subject,
    text_body: mail.text,
    sensitive: mail.sensitive ?? false,
  });
  return id;
}

/**
 * Writes a pending mail only if a user has the recipient's address; returns its id or null.
 * One statement either way, so a caller that must not reveal whether an address is registered
 * does the same work for both.
 */
export async function writeMailIfUser(db: Db, mail: NewMail): Promise<string | null> {
  const id = newId('mail');
  const result = await db.raw<{ rows: { id: string }[] }>(
    `insert into mail_outbox (id, kind, to_address, subject, text_body, sensitive)
     select ?, ?, ?, ?, ?, ? where exists (select 1 from users where email = ?)
     returning id`,
    [id, mail.kind, mail.to, mail.subject, mail.text, mail.sensitive ?? false, mail.to],
  );
  return result.rows[0]?.id ?? null;
}

/**
 * Enqueues send jobs for mails written in a transaction that has committed. It does not wait:
 * the request answers at once, and a Redis that is down or slow cannot hold it. A failed enqueue
 * is logged and the row stays pending for `requeuePendingMail` (the reconciler) to pick up;
 * the job id is the mail id, so enqueueing twice is harmless.
 */
export function dispatchMail(queues: Queues, mailIds: readonly (string | null)[], logger: Logger): void {
  for (const mailId of mailIds) {
    if (!mailId) continue;
    queues.enqueue('mail', 'send-mail', { mailId }, { jobId: mailId }).catch((err: unknown) => {
      logger.warn({ mailId, err }, 'could not enqueue mail; it stays pending for the reconciler');
    });
  }
}

/** Re-enqueues mail pending for longer than `olderThanMs` (a crash or a Redis loss between commit and enqueue). */
export async function requeuePendingMail(db: Db, queues: Queues, olderThanMs: number): Promise<number> {
  const rows: { id: string }[] = await db('mail_outbox')
    .where({ status: 'pending' })
    .where('created_at', '<', new Date(Date.now() - olderThanMs))
    .orderBy('created_at')
    .limit(1000)
    .select('id');
  for (const row of rows) await queues.enqueue('mail', 'send-mail', { mailId: row.id }, { jobId: row.id });
  return rows.length;
}

/** What `deliverMail` did. */
export type DeliveryOutcome = 'sent' | 'outbox' | 'skipped';

/**
 * Hands one pending mail to the mailer and records the outcome. Already delivered or unknown:
 * skipped (a job may run twice). A mailer failure is recorded (attempts, last error; `failed`
 * when `finalAttempt`) and rethrown, so the job is retried.
 */
export async function deliverMail(
  db: Db,
  mailer: Mailer,
  mailId: string,
  log: Logger,
  finalAttempt: boolean,
): Promise<DeliveryOutcome> {
  const row = (await db('mail_outbox').where({ id: mailId }).first()) as MailRow | undefined;
  if (!row || row.status !== 'pending') return 'skipped';
  // Subject and recipient only: a body may hold a sign-in code.
  const about = { mailId, kind: row.kind, to: row.to_address, subject: row.subject };
  if (mailer.transport === 'outbox') {
    await db('mail_outbox')
      .where({ id: mailId, status: 'pending' })
      .update({ status: 'outbox', attempts: row.attempts + 1, delivered_at: db.fn.now(), last_error: null });
    log.info(about, 'mail written to the outbox (no SMTP_URL): read it at GET /v1/ops/outbox');
    return 'outbox';
  }
  try {
    const { messageId } = await mailer.send({ to: row.to_address, subject: row.subject, text: row.text_body ?? '' });
    await db('mail_outbox')
      .where({ id: mailId })
      .update({
        status: 'sent',
        attempts: row.attempts + 1,
        delivered_at: db.fn.now(),
        last_error: null,
        provider_message_id: messageId,
        ...(row.sensitive ? { text_body: null } : {}),
      });
    log.info(about, 'mail sent');
    return 'sent';
  } catch (err) {
    const message = ((err as Error).message || String(err)).slice(0, 500);
    await db('mail_outbox')
      .where({ id: mailId })
      .update({
        attempts: row.attempts + 1,
        last_error: message,
        ...(finalAttempt ? { status: 'failed', ...(row.sensitive ? { text_body: null } : {}) } : {}),
      });
    log.warn({ ...about, error: message, finalAttempt }, finalAttempt ? 'mail failed for good' : 'mail failed; will retry');
    throw err;
  }
}
