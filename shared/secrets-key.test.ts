import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { createSecretBox, generateKey } from './secret-box.ts';
import { DEV_SECRETS_FILE, requireSecretsKey, withSecretsKey } from './secrets-key.ts';

const base = {
  DATABASE_URL: 'postgres://localhost/x',
  OPERATOR_TOKEN: 'operator-token-0123456789',
  HUB_TOKEN: 'hub-token-0123456789abcdef',
};
const tempDir = () => path.join(mkdtempSync(path.join(tmpdir(), 'hubhook-key-')), '.data');

describe('withSecretsKey', () => {
  it('uses SECRETS_KEY when it is set, writing nothing', () => {
    const key = generateKey();
    const dataDir = tempDir();
    expect(withSecretsKey(loadConfig({ ...base, SECRETS_KEY: key }), { dataDir }).secretsKey).toBe(key);
    expect(() => statSync(dataDir)).toThrow();
  });

  it('outside production makes a development key once, keeps it (0600) and uses the same one on every start', () => {
    const dataDir = tempDir();
    const warnings: string[] = [];
    const first = withSecretsKey(loadConfig(base), { dataDir, warn: (m) => warnings.push(m) }).secretsKey;
    expect(() => createSecretBox(first)).not.toThrow();
    const file = path.join(dataDir, DEV_SECRETS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(withSecretsKey(loadConfig(base), { dataDir }).secretsKey).toBe(first);
    expect(warnings).toEqual([expect.stringContaining(file)]);
    expect(warnings[0]).not.toContain(first);
  });

  it('adds the key to an existing dev-secrets file without touching the tokens in it', () => {
    const dataDir = tempDir();
    withSecretsKey(loadConfig(base), { dataDir }); // creates the directory
    const file = path.join(dataDir, DEV_SECRETS_FILE);
    writeFileSync(file, JSON.stringify({ OPERATOR_TOKEN: 'op_kept', HUB_TOKEN: 'hub_kept' }));
    const key = withSecretsKey(loadConfig(base), { dataDir }).secretsKey;
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ OPERATOR_TOKEN: 'op_kept', HUB_TOKEN: 'hub_kept', SECRETS_KEY: key });
  });

  it('never makes one in production: the config already refuses to load without it', () => {
    expect(() => loadConfig({ ...base, HUBHOOK_ENV: 'production' })).toThrow(/SECRETS_KEY/);
  });
});

describe('requireSecretsKey', () => {
  it('names SECRETS_KEY when a process was started without one', () => {
    expect(() => requireSecretsKey({ secretsKey: undefined })).toThrow(/SECRETS_KEY is not set/);
    expect(requireSecretsKey({ secretsKey: 'k' })).toBe('k');
  });
});
