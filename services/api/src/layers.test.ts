import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The api's layer rule (docs/architecture.md, "The code"): routers parse and call a service;
 * services open transactions, write audit rows and decide "not found"; repositories own the
 * SQL. Read from the source, so a shortcut shows up here rather than in review.
 */
const root = path.dirname(fileURLToPath(import.meta.url));
const nouns = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'http' && d.name !== 'docs')
  .map((d) => d.name);
const filesOf = (noun: string) =>
  readdirSync(path.join(root, noun))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => ({ name: `${noun}/${f}`, text: readFileSync(path.join(root, noun, f), 'utf8') }));
const all = nouns.flatMap(filesOf);

// `db('table')`, `trx<Row>('table')`, `db.raw(`: a query built on the spot.
const QUERY = /\b(?:db|trx|knex)\s*(?:<[^>]*>)?\s*\(\s*['"`]|\b(?:db|trx|knex)\.raw\(/;

describe('the api layers', () => {
  it('has routers that neither open transactions nor write audit rows', () => {
    const routers = all.filter((f) => f.name.endsWith('/router.ts'));
    expect(routers.length).toBeGreaterThan(15);
    expect(routers.filter((f) => /\.transaction\(|recordAudit|audit\/audit/.test(f.text)).map((f) => f.name)).toEqual([]);
  });

  it('has routers that reach data only through services (no repository imports)', () => {
    const routers = all.filter((f) => f.name.endsWith('/router.ts'));
    expect(routers.filter((f) => /from '[^']*repository(\.ts)?'/.test(f.text)).map((f) => f.name)).toEqual([]);
  });

  it('builds queries only in repositories (and the audit log, which is its own)', () => {
    const others = all.filter((f) => !f.name.endsWith('/repository.ts') && f.name !== 'audit/audit.ts');
    expect(others.filter((f) => QUERY.test(f.text)).map((f) => f.name)).toEqual([]);
  });

  it('sees a query built on the spot', () => {
    expect(QUERY.test("await trx('products').where({ id })")).toBe(true);
    expect(QUERY.test('await db<ProductRow>(`products`)')).toBe(true);
    expect(QUERY.test('await db.raw(`select 1`)')).toBe(true);
    expect(QUERY.test('await findProduct(db, id)')).toBe(false);
  });
});
