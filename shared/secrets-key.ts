/**
 * SECRETS_KEY for a process that starts without one. `production` never gets here (the config
 * refuses to start without the key). Elsewhere a development key is made once and kept in
 * `<dataDir>/dev-secrets.json`, the file `npm start` keeps its development tokens in, so the api,
 * the worker and `npm start` all seal and open with the same key.
 *
 * Failure policy: a key file that cannot be read or written stops the start (it throws): a key
 * made and then lost would leave every stored signing secret unreadable.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import { generateKey } from './secret-box.ts';

/** The file, under the data directory, holding development tokens and the development key. */
export const DEV_SECRETS_FILE = 'dev-secrets.json';

const isKey = (value: unknown): value is string => typeof value === 'string' && Buffer.from(value, 'base64').length === 32;

/** Reads the development SECRETS_KEY from `<dataDir>/dev-secrets.json`, adding one to the file (mode 0600) when it has none. */
export function loadDevSecretsKey(dataDir: string): string {
  const file = path.join(dataDir, DEV_SECRETS_FILE);
  const kept: Record<string, unknown> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  if (isKey(kept.SECRETS_KEY)) return kept.SECRETS_KEY;
  const key = generateKey();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify({ ...kept, SECRETS_KEY: key }, null, 2), { mode: 0o600 });
  return key;
}

/**
 * The config with a SECRETS_KEY: the configured one, else (outside production) the development
 * key from `dataDir`, announced through `warn` (the key itself is never printed).
 */
export function withSecretsKey(
  config: Config,
  options: { dataDir?: string; warn?: (message: string) => void } = {},
): Config & { secretsKey: string } {
  if (config.secretsKey !== undefined) return { ...config, secretsKey: config.secretsKey };
  if (config.env === 'production') throw new Error('SECRETS_KEY: is required when HUBHOOK_ENV=production');
  const dataDir = options.dataDir ?? path.resolve('.data');
  const secretsKey = loadDevSecretsKey(dataDir);
  options.warn?.(`SECRETS_KEY is not set: using the development key kept in ${path.join(dataDir, DEV_SECRETS_FILE)}`);
  return { ...config, secretsKey };
}

/** The configured SECRETS_KEY; throws a message naming the variable when a process was started without one. */
export function requireSecretsKey(config: Pick<Config, 'secretsKey'>): string {
  if (config.secretsKey === undefined) {
    throw new Error('SECRETS_KEY is not set: it encrypts signing secrets at rest (entry points make a development key outside production)');
  }
  return config.secretsKey;
}
