import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { auditFor, createPartner, walkPages } from '../support/fixtures.ts';

describe('installations (operator)', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  const create = (body: unknown, token = OPERATOR_TOKEN) => ctx.request('POST', '/v1/installations', { token, body });

  it('has MSVPAR, the shared partner test installation, from the first start', async () => {
    const res = await ctx.request('GET', '/v1/installations', { token: OPERATOR_TOKEN });
    expect(res.status).toBe(200);
    expect(res.body.data).toContainEqual({ installationId: 'MSVPAR', name: 'Next Partner', createdAt: expect.any(String) });
  });

  it('registers an installation, its id upper-cased, and audits it', async () => {
    const res = await create({ installationId: ' megler_oslo-1 ', name: 'Megler Oslo' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ installationId: 'MEGLER_OSLO-1', name: 'Megler Oslo', createdAt: expect.any(String) });
    const [row] = await auditFor(ctx.db, 'MEGLER_OSLO-1');
    expect(row).toMatchObject({ actor_type: 'operator', action: 'installation.created', target_type: 'installation', data: { name: 'Megler Oslo' } });
  });

  it('accepts 1 and 32 characters', async () => {
    expect((await create({ installationId: 'Q', name: 'One' })).status).toBe(201);
    expect((await create({ installationId: 'A'.repeat(32), name: 'Long' })).status).toBe(201);
  });

  it('refuses an InstallationID that exists, in any case, with 409', async () => {
    for (const installationId of ['MSVPAR', 'msvpar', 'MsvPar']) {
      const res = await create({ installationId, name: 'Again' });
      expect(res.status, installationId).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'installation_exists', details: [{ path: 'body.installationId' }] });
    }
    expect((await ctx.db('installations').where({ id: 'MSVPAR' }).first()).name).toBe('Next Partner');
  });

  it.each([
    ['no InstallationID', { name: 'X' }, 'body.installationId'],
    ['an empty one', { installationId: '', name: 'X' }, 'body.installationId'],
    ['one with a space', { installationId: 'MSV PAR', name: 'X' }, 'body.installationId'],
    ['one with a dot', { installationId: 'MSV.PAR', name: 'X' }, 'body.installationId'],
    ['one with letters outside A–Z', { installationId: 'BÆRUM', name: 'X' }, 'body.installationId'],
    ['33 characters', { installationId: 'A'.repeat(33), name: 'X' }, 'body.installationId'],
    ['a number', { installationId: 12345, name: 'X' }, 'body.installationId'],
    ['no name', { installationId: 'NONAME' }, 'body.name'],
    ['a blank name', { installationId: 'NONAME', name: '  ' }, 'body.name'],
  ])('answers 400 naming the field for %s', async (_what, body, path) => {
    const res = await create(body);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
  });

  it('is for operators only', async () => {
    const partner = await createPartner(ctx);
    expect((await create({ installationId: 'SNEAKY', name: 'X' }, partner.apiKey)).status).toBe(403);
    expect((await create({ installationId: 'SNEAKY', name: 'X' }, HUB_TOKEN)).status).toBe(403);
    expect((await ctx.request('GET', '/v1/installations', { token: partner.apiKey })).status).toBe(403);
    expect((await ctx.request('GET', '/v1/installations', { token: HUB_TOKEN })).status).toBe(403);
    expect((await ctx.request('GET', '/v1/installations')).status).toBe(401);
    expect(await ctx.db('installations').where({ id: 'SNEAKY' })).toHaveLength(0);
  });

  it('lists installations page by page, by InstallationID', async () => {
    for (const id of ['ZETA', 'ALFA', 'MIKE', 'BRAVO', 'XRAY']) expect((await create({ installationId: id, name: id })).status).toBe(201);
    const total = (await ctx.db('installations').count({ n: '*' }).first())!.n as number;
    const { items, pages } = await walkPages(ctx, '/v1/installations?limit=2', OPERATOR_TOKEN);
    expect(items).toHaveLength(total);
    expect(pages.length).toBe(Math.ceil(total / 2));
    const ids = items.map((i) => i.installationId as string);
    // The database's own order (its collation decides where `_` and `-` sort), each id once.
    expect(ids).toEqual((await ctx.db('installations').orderBy('id').pluck('id')) as string[]);
  });
});
