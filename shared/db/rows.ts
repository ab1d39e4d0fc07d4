/** A `subscriptions` row (migration 0002), as every reader of the table types it. */
export interface SubscriptionRow {
  id: string;
  partner_id: string;
  product_id: string;
  function_key: string;
  url: string;
  event_types: string[];
  description: string;
  state: 'active' | 'paused' | 'disabled';
  disabled_reason: string | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  failing_since: Date | null;
  consecutive_failures: number;
  /** The operator's ceiling on requests started per second; null: none. */
  max_rate_per_second: number | null;
  /** The partner's own limit, at most the ceiling; null: the ceiling. */
  rate_per_second: number | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}
