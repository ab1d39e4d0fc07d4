import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The development tokens and key `npm start` makes once and keeps under `.data/`. */
export interface DevSecrets {
  OPERATOR_TOKEN: string;
  HUB_TOKEN: string;
  SECRETS_KEY: string;
}

/**
 * Reads `.data/dev-secrets.json`, making it (mode 0600) on first use. A file missing some of
 * the values (the api or worker started alone adds only SECRETS_KEY, see shared/secrets-key.ts)
 * is completed, keeping what it holds: a kept key must never change, or sealed secrets are lost.
 */
export function loadDevSecrets(dataDir: string): DevSecrets {
  const file = path.join(dataDir, 'dev-secrets.json');
  const kept: Partial<DevSecrets> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DevSecrets>) : {};
  const secrets: DevSecrets = {
    OPERATOR_TOKEN: kept.OPERATOR_TOKEN ?? `op_${randomBytes(24).toString('base64url')}`,
    HUB_TOKEN: kept.HUB_TOKEN ?? `hub_${randomBytes(24).toString('base64url')}`,
    SECRETS_KEY: kept.SECRETS_KEY ?? randomBytes(32).toString('base64'),
  };
  if (kept.OPERATOR_TOKEN && kept.HUB_TOKEN && kept.SECRETS_KEY) return secrets;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify({ ...kept, ...secrets }, null, 2), { mode: 0o600 });
  return secrets;
}

/** The bearer tokens `npm start` prints, in order. */
const PRINTED_TOKENS = ['OPERATOR_TOKEN', 'HUB_TOKEN'] as const;

/** True when the environment gives `name` (empty counts as unset, as in shared/config.ts). */
export const givenInEnv = (env: NodeJS.ProcessEnv, name: string) => env[name] !== undefined && env[name] !== '';

/**
 * The start-up banner's token lines. A token `npm start` made (kept in `.data/dev-secrets.json`)
 * is printed so a developer can use it; one given in the environment is only named ("from
 * OPERATOR_TOKEN"), never echoed: whoever set it has it, and the terminal or its log may be shared.
 */
export function tokenBanner(given: NodeJS.ProcessEnv, secrets: DevSecrets): string[] {
  const made = PRINTED_TOKENS.filter((name) => !givenInEnv(given, name));
  const lines = made.length > 0 ? ['Development tokens (kept in .data/dev-secrets.json):'] : ['Tokens:'];
  for (const name of PRINTED_TOKENS) lines.push(givenInEnv(given, name) ? `  ${name} from ${name} (not shown)` : `  ${name}=${secrets[name]}`);
  return lines;
}
