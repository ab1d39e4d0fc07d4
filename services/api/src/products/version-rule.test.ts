import { describe, expect, it } from 'vitest';
import { decideVersionChange } from './version-rule.ts';

describe('decideVersionChange', () => {
  const base = { env: 'production' as const, version: 1, latestVersion: 1 };

  it.each([
    ['activated nowhere', []],
    ['activated only in MSVPAR', ['MSVPAR']],
  ])('allows a version %s, in production, current or not', (_what, activatedIn) => {
    expect(decideVersionChange({ ...base, activatedIn })).toEqual({ allowed: true });
    expect(decideVersionChange({ ...base, latestVersion: 3, activatedIn })).toEqual({ allowed: true });
  });

  it('refuses in production a version another installation has, naming the others', () => {
    expect(decideVersionChange({ ...base, activatedIn: ['MSVPAR', 'ACME01'] })).toEqual({ allowed: false, blockingInstallations: ['ACME01'] });
  });

  it('allows in test the current version wherever it is activated', () => {
    expect(decideVersionChange({ env: 'test', version: 2, latestVersion: 2, activatedIn: ['ACME01', 'MSVPAR'] })).toEqual({ allowed: true });
  });

  it('refuses in test an older version another installation has', () => {
    expect(decideVersionChange({ env: 'test', version: 1, latestVersion: 2, activatedIn: ['ACME01'] })).toEqual({
      allowed: false,
      blockingInstallations: ['ACME01'],
    });
  });
});
