import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The development tokens and key `npm start` makes once and keeps under `.data/`. */
export interface DevSecrets {
  OPERATOR_TOKEN: string;
  HUB_TOKEN: string;
  SECRETS_KEY: string;
}

/** Reads `.data/dev-secrets.json`, making it (mode 0600) on first use. */
export function loadDevSecrets(dataDir: string): DevSecrets {
  const file = path.join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  const secrets: DevSecrets = {
    OPERATOR_TOKEN: `op_${randomBytes(24).toString('base64url')}`,
    HUB_TOKEN: `hub_${randomBytes(24).toString('base64url')}`,
    SECRETS_KEY: randomBytes(32).toString('base64'),
  };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
