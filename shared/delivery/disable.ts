import type { Knex } from '../db/knex.ts';
import { newId } from '../ids.ts';
import { writeMail } from '../mail/outbox.ts';
import { subscriptionDisabledMail } from '../mail/templates.ts';

/**
 * Disabling subscriptions, the one place it happens (the engine on 410 Gone or DISABLE_AFTER,
 * operators by hand). Each disable writes, in the caller's transaction, a notice for the
 * partner (`GET /v1/notifications`) and a mail to the partner's contact person; the caller
 * hands `mailIds` to the mail queue after the commit (`dispatchMail`). A mail whose enqueue is
 * lost stays pending for the reconciler.
 */

/** What a disable did: how many subscriptions changed, and the mails to enqueue after the commit. */
export interface DisableOutcome {
  count: number;
  mailIds: string[];
}

/** Adds two outcomes. */
export const addOutcomes = (a: DisableOutcome, b: DisableOutcome): DisableOutcome => ({ count: a.count + b.count, mailIds: [...a.mailIds, ...b.mailIds] });

type Disabled = { id: string; partner_id: string; url: string; disabled_reason: string };
const RETURNED = ['id', 'partner_id', 'url', 'disabled_reason'];

/** Records a notice for each disabled subscription's partner and writes the mail to its contact person. */
async function tell(trx: Knex.Transaction, disabled: Disabled[], publicUrl: string | undefined): Promise<DisableOutcome> {
  if (disabled.length === 0) return { count: 0, mailIds: [] };
  await trx('notifications')
    .insert(
      disabled.map((d) => ({
        id: newId('notification'),
        partner_id: d.partner_id,
        kind: 'subscription_disabled',
        message: `Subscription ${d.id} was disabled: ${d.disabled_reason}`,
        data: JSON.stringify({ subscriptionId: d.id, reason: d.disabled_reason }),
        dedupe_key: `subscription-disabled:${d.id}:${Date.now()}`,
      })),
    )
    .onConflict('dedupe_key')
    .ignore();
  const partners = (await trx('partners')
    .whereIn('id', [...new Set(disabled.map((d) => d.partner_id))])
    .select('id', 'name', 'contact_email')) as { id: string; name: string; contact_email: string }[];
  const byId = new Map(partners.map((p) => [p.id, p]));
  const mailIds: string[] = [];
  for (const d of disabled) {
    const partner = byId.get(d.partner_id);
    if (!partner) continue; // the partner is being deleted in another transaction; its rows go with it
    mailIds.push(
      await writeMail(
        trx,
        subscriptionDisabledMail({ to: partner.contact_email, partnerName: partner.name, subscriptionId: d.id, url: d.url, reason: d.disabled_reason, publicUrl }),
      ),
    );
  }
  return { count: disabled.length, mailIds };
}

/** Disables subscriptions at once with a reason (their receiver answered 410 Gone; an operator). */
export async function disableSubscriptions(trx: Knex.Transaction, reasons: Map<string, string>, publicUrl?: string): Promise<DisableOutcome> {
  const disabled: Disabled[] = [];
  for (const [id, reason] of reasons) {
    const rows = (await trx('subscriptions')
      .where({ id })
      .whereNot('state', 'disabled')
      .update({ state: 'disabled', disabled_reason: reason, updated_at: trx.fn.now() })
      .returning(RETURNED)) as Disabled[];
    disabled.push(...rows);
  }
  return tell(trx, disabled, publicUrl);
}

/**
 * Disables active subscriptions with no success for `disableAfterMs` while their deliveries
 * fail (among `ids`, or all when null), telling each partner.
 */
export async function disableFailingSubscriptions(
  trx: Knex.Transaction,
  disableAfterMs: number,
  ids: string[] | null,
  publicUrl?: string,
): Promise<DisableOutcome> {
  const query = trx('subscriptions')
    .where('state', 'active')
    .whereNull('deleted_at')
    .whereNotNull('failing_since')
    .where('failing_since', '<', trx.raw(`now() - (? * interval '1 millisecond')`, [disableAfterMs]));
  if (ids) query.whereIn('id', ids);
  const disabled = (await query
    .update({
      state: 'disabled',
      disabled_reason: trx.raw(
        `'no successful delivery since ' || coalesce(to_char(last_success_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC', 'it was created') || ' while deliveries kept failing'`,
      ),
      updated_at: trx.fn.now(),
    })
    .returning(RETURNED)) as Disabled[];
  return tell(trx, disabled, publicUrl);
}
