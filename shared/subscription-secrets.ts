/**
 * A subscription's signing secrets as the delivery path uses them: the current one, plus the
 * previous one while a rotation overlaps (DESIGN.md "Delivery contract": one `v1,` signature per
 * active secret). Shared by the api (verification requests) and the delivery worker.
 *
 * Failure policy: a sealed value that cannot be opened (wrong SECRETS_KEY, tampering) throws
 * `SecretBoxError`: signing with a guessed or missing secret would only produce requests every
 * receiver rejects, so the caller must fail the send, not skip the signature.
 */
import type { SecretBox } from './secret-box.ts';

/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

/** The sealed-secret columns of a `subscriptions` row. */
export interface SealedSecretColumns {
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | string | null;
}

/** True while the previous secret of `row` still signs at `now`. */
export function previousSecretActive(row: SealedSecretColumns, now: Date = new Date()): boolean {
  if (row.previous_secret_sealed === null || row.previous_secret_expires_at === null) return false;
  return new Date(row.previous_secret_expires_at).getTime() > now.getTime();
}

/** The secrets to sign with at `now`: the current one first, then the previous one while its overlap lasts. */
export function activeSecrets(row: SealedSecretColumns, box: SecretBox, now: Date = new Date()): string[] {
  const secrets = [box.open(row.secret_sealed)];
  if (previousSecretActive(row, now)) secrets.push(box.open(row.previous_secret_sealed as string));
  return secrets;
}
