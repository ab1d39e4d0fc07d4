/**
 * One row type per table, as the migrations create it (snake_case columns, timestamps as
 * `Date`). A query that reads only some columns or joins another table types its result from
 * these with `Pick<>` and `&`, so a column is declared in one place.
 */

/** A `partners` row (0001; `account_login` from 0005). */
export type PartnerRow = {
  id: string;
  name: string;
  contact_email: string;
  account_login: string | null;
  created_at: Date;
};

/** A `users` row (0001). */
export type UserRow = {
  id: string;
  partner_id: string;
  email: string;
  is_contact: boolean;
  created_at: Date;
};

/** An `api_keys` row (0001; `name` from 0006): a user's standing key, or an e-mail sign-in session. */
export type ApiKeyRow = {
  id: string;
  partner_id: string;
  user_id: string | null;
  kind: 'user' | 'session';
  name: string | null;
  secret_hash: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
};

/** An `installations` row (0001). */
export type InstallationRow = {
  id: string;
  name: string;
  created_at: Date;
};

/** A `functions` row: the catalog (0001). */
export type FunctionRow = {
  key: string;
  name: string;
  description: string;
  event_types: string[];
  filter_fields: string[];
  created_at: Date;
  updated_at: Date;
};

/** A `products` row (0001). */
export type ProductRow = {
  id: string;
  partner_id: string;
  name: string;
  type: 'order_integration' | 'rights';
  description: string;
  order_url: string | null;
  availability_mode: 'all' | 'restricted';
  availability_installation_ids: string[];
  status: 'draft' | 'active';
  active_version: number | null;
  login: string | null;
  created_at: Date;
  updated_at: Date;
};

/** A `product_versions` row (0001). */
export type VersionRow = {
  product_id: string;
  number: number;
  status: 'draft' | 'active' | 'superseded';
  created_at: Date;
  activated_at: Date | null;
};

/** A `version_functions` row (0001). */
export type VersionFunctionRow = {
  product_id: string;
  version: number;
  function_key: string;
  require_access: boolean;
  filters: Record<string, string[]>;
};

/** A `product_credentials` row (0001). */
export type ProductCredentialRow = {
  id: string;
  product_id: string;
  secret_hash: string;
  created_at: Date;
  revoked_at: Date | null;
};

/** An `account_credentials` row (0005): the legacy account login's access keys. */
export type AccountCredentialRow = {
  id: string;
  partner_id: string;
  secret_hash: string;
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
};

/** An `activations` row (0001). */
export type ActivationRow = {
  installation_id: string;
  product_id: string;
  version: number;
  activated_at: Date;
  updated_at: Date;
};

/** A `notifications` row (0001). */
export type NotificationRow = {
  id: string;
  partner_id: string | null;
  installation_id: string | null;
  product_id: string | null;
  kind: string;
  message: string;
  data: Record<string, unknown>;
  dedupe_key: string | null;
  created_at: Date;
  read_at: Date | null;
};

/** A `legacy_grants` row (0001). */
export type LegacyGrantRow = {
  id: string;
  partner_id: string;
  installation_id: string;
  function_key: string;
  created_at: Date;
};

/** A `subscriptions` row (0002). */
export type SubscriptionRow = {
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
  /** `entity`: one entity's messages go one at a time, in publication order (0011). */
  ordering: 'none' | 'entity';
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
};

/** An `events` row (0003): one HUB event, by HUB's own id. */
export type EventRow = {
  id: string;
  installation_id: string;
  type: string;
  entity_id: string | null;
  occurred_at: Date;
  data: unknown;
  received_at: Date;
  fanout_at: Date | null;
  /** Publication order (bigint, as text); null for events older than 0011. */
  seq: string | null;
  /** While first deliveries of the event are in a worker's hands, not yet written (0013): the lease's owner and end. */
  deliveries_owner: string | null;
  deliveries_until: Date | null;
};

/** A `messages` row (0003): one event for one subscription. */
export type MessageRow = {
  id: string;
  event_id: string;
  subscription_id: string;
  status: 'pending' | 'held' | 'succeeded' | 'dead' | 'cancelled';
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  succeeded_at: Date | null;
  /** `<installation>/<entityId>` on messages delivered in entity order; null otherwise (0011). */
  entity_key: string | null;
  /** The event's publication order, on ordered messages (bigint, as text). */
  seq: string | null;
};

/** An `attempts` row (0003, response fields 0007): one delivery attempt of a message. */
export type AttemptRow = {
  id: string;
  message_id: string;
  subscription_id: string;
  attempt: number;
  attempted_at: Date;
  duration_ms: number;
  outcome: 'success' | 'failure';
  status_code: number | null;
  error: string | null;
  error_message: string | null;
  response_body: string | null;
  response_body_bytes: Buffer | null;
  response_body_truncated: boolean;
  response_status_text: string | null;
  response_headers: { headers: Record<string, string>; omitted: number } | null;
};

/** An `applications` row (0005): a company's request for access. */
export type ApplicationRow = {
  id: string;
  company_name: string;
  organisation_number: string;
  contact_name: string;
  contact_email: string;
  purpose: string;
  status: 'pending' | 'approved' | 'rejected';
  decision_reason: string | null;
  decided_at: Date | null;
  partner_id: string | null;
  created_at: Date;
};

/** A `mail_outbox` row (0005). */
export type MailRow = {
  id: string;
  kind: string;
  to_address: string;
  subject: string;
  text_body: string | null;
  sensitive: boolean;
  status: 'pending' | 'sent' | 'outbox' | 'failed';
  attempts: number;
  last_error: string | null;
  provider_message_id: string | null;
  created_at: Date;
  delivered_at: Date | null;
};

/** A `legacy_clean_up_requests` row (0005); `grants` holds what products covered when asked. */
export type CleanUpRequestRow = {
  id: string;
  partner_id: string;
  requested_by: string | null;
  grants: { grantId: string; installationId: string; functionKey: string; coveredBy: string[] }[];
  note: string;
  status: 'open' | 'done';
  created_at: Date;
  resolved_at: Date | null;
};

/** An `unroutable_events` row (0010): an accepted event nobody can route. */
export type UnroutableEventRow = {
  id: string;
  event_id: string;
  installation_id: string;
  type: string;
  reason: 'unknown_installation' | 'unknown_event_type';
  received_at: Date;
};
