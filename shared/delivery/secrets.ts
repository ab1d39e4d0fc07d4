import type { SecretBox } from '../secret-box.ts';

/** The sealed secret columns of a subscription row. */
export interface SealedSecrets {
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
}

/**
 * The secrets a message is signed with now: the current one, plus the previous one while a
 * rotation overlaps (24 h), so receivers verifying with either keep working.
 */
export function activeSecrets(row: SealedSecrets, box: Pick<SecretBox, 'open'>, now = new Date()): string[] {
  const secrets = [box.open(row.secret_sealed)];
  if (row.previous_secret_sealed && row.previous_secret_expires_at && row.previous_secret_expires_at > now) {
    secrets.push(box.open(row.previous_secret_sealed));
  }
  return secrets;
}
