/**
 * When may a version's functions be changed in place, and when must the partner make a new
 * version? The portal's rule says:
 *
 *   Adding a function to a version that is already activated in any installation other than
 *   `MSVPAR` is refused: the partner must create a new version. In the `test` environment, or
 *   when `MSVPAR` is the only installation that has activated it, the current version may be
 *   changed in place.
 *
 * How we read it:
 * - "Activated in an installation" means an installation's activation (a row in `activations`)
 *   is on that version now. It is NOT the partner activating the version (making the product
 *   active): an active version that no installation has taken yet may still be changed, and a
 *   version an installation has left (upgraded away from, or deactivated) no longer counts.
 * - The rule guards what an installation's administrator agreed to when activating or
 *   upgrading. Adding a function is the case the text names; removing one (the DELETE
 *   route, under the same rule) and changing an existing function's filters or requireAccess change that
 *   agreement just the same, so every change to a version's functions is under the rule.
 *   A PUT that changes nothing is not a change and is always answered 200.
 * - `MSVPAR` (the shared partner test installation) never counts: a version activated only
 *   there, or nowhere, may be changed in place, in any environment.
 * - In the `test` environment the *current* version (the product's latest, the one a new
 *   version would copy) may be changed in place even where other installations have it. Older
 *   versions keep the rule there too: "the current version" is what the text relaxes.
 *
 * Failure policy: anything not positively allowed is refused with 409 `new_version_required`.
 */

/** What the rule needs to know about the version being changed. */
export interface VersionChangeFacts {
  env: 'test' | 'production';
  /** The version being changed. */
  version: number;
  /** The product's highest version number. */
  latestVersion: number;
  /** Installations whose activation is on `version` now. */
  activatedIn: readonly string[];
}

/** The outcome: allowed, or refused with the installations (other than MSVPAR) that hold the version. */
export type VersionChangeDecision = { allowed: true } | { allowed: false; blockingInstallations: string[] };

/** The shared partner test installation: activations there never lock a version. */
export const PARTNER_TEST_INSTALLATION = 'MSVPAR';

/** Applies the rule above. Pure: the caller gathers the facts inside the transaction that makes the change. */
export function decideVersionChange(facts: VersionChangeFacts): VersionChangeDecision {
  const others = facts.activatedIn.filter((id) => id !== PARTNER_TEST_INSTALLATION);
  if (others.length === 0) return { allowed: true };
  if (facts.env === 'test' && facts.version === facts.latestVersion) return { allowed: true };
  return { allowed: false, blockingInstallations: [...others] };
}
