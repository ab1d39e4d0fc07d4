import type { Knex } from '../db/knex.ts';
import { newId } from '../ids.ts';

type Disabled = { id: string; partner_id: string; disabled_reason: string };

/** Records a notice for each disabled subscription's partner, saying why. */
async function notify(trx: Knex.Transaction, disabled: Disabled[]): Promise<void> {
  if (disabled.length === 0) return;
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
}

/** Disables subscriptions at once with a reason (their receiver answered 410 Gone). */
export async function disableSubscriptions(trx: Knex.Transaction, reasons: Map<string, string>): Promise<number> {
  const disabled: Disabled[] = [];
  for (const [id, reason] of reasons) {
    const rows = await trx('subscriptions')
      .where({ id })
      .whereNot('state', 'disabled')
      .update({ state: 'disabled', disabled_reason: reason, updated_at: trx.fn.now() })
      .returning(['id', 'partner_id', 'disabled_reason']);
    disabled.push(...rows);
  }
  await notify(trx, disabled);
  return disabled.length;
}

/**
 * Disables active subscriptions with no success for `disableAfterMs` while their deliveries
 * fail (among `ids`, or all when null), with a notice for the partner. Returns how many.
 */
export async function disableFailingSubscriptions(trx: Knex.Transaction, disableAfterMs: number, ids: string[] | null): Promise<number> {
  const query = trx('subscriptions')
    .where('state', 'active')
    .whereNull('deleted_at')
    .whereNotNull('failing_since')
    .where('failing_since', '<', trx.raw(`now() - (? * interval '1 millisecond')`, [disableAfterMs]));
  if (ids) query.whereIn('id', ids);
  const disabled: Disabled[] = await query
    .update({
      state: 'disabled',
      disabled_reason: trx.raw(
        `'no successful delivery since ' || coalesce(to_char(last_success_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC', 'it was created') || ' while deliveries kept failing'`,
      ),
      updated_at: trx.fn.now(),
    })
    .returning(['id', 'partner_id', 'disabled_reason']);
  await notify(trx, disabled);
  return disabled.length;
}
