import { describe, expect, it } from 'vitest';
import { tokenBanner, type DevSecrets } from './dev-secrets.ts';

const made: DevSecrets = { OPERATOR_TOKEN: 'op_made_by_npm_start', HUB_TOKEN: 'hub_made_by_npm_start', SECRETS_KEY: 'a2V5' };

describe('the npm start banner', () => {
  it('prints the tokens npm start made', () => {
    expect(tokenBanner({}, made)).toEqual([
      'Development tokens (kept in .data/dev-secrets.json):',
      '  OPERATOR_TOKEN=op_made_by_npm_start',
      '  HUB_TOKEN=hub_made_by_npm_start',
    ]);
  });

  it('names a token given in the environment and never echoes it', () => {
    const given = { OPERATOR_TOKEN: 'my-own-operator-token-0123456789abcdef' };
    const lines = tokenBanner(given, made);
    expect(lines).toEqual([
      'Development tokens (kept in .data/dev-secrets.json):',
      '  OPERATOR_TOKEN from OPERATOR_TOKEN (not shown)',
      '  HUB_TOKEN=hub_made_by_npm_start',
    ]);
    expect(lines.join('\n')).not.toContain(given.OPERATOR_TOKEN);
  });

  it('prints no token at all when both are given, and no SECRETS_KEY ever', () => {
    const given = { OPERATOR_TOKEN: 'given-operator-token-0123456789abcdef', HUB_TOKEN: 'given-hub-token-0123456789abcdef0' };
    const text = tokenBanner(given, made).join('\n');
    expect(text).toBe(['Tokens:', '  OPERATOR_TOKEN from OPERATOR_TOKEN (not shown)', '  HUB_TOKEN from HUB_TOKEN (not shown)'].join('\n'));
    for (const secret of [...Object.values(given), ...Object.values(made)]) expect(text).not.toContain(secret);
  });

  it('treats an empty variable as unset, as the configuration does: the made token is used and shown', () => {
    expect(tokenBanner({ HUB_TOKEN: '' }, made)).toContain('  HUB_TOKEN=hub_made_by_npm_start');
  });
});
