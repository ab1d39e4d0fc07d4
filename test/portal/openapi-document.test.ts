import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';
import { buildDocumentWithoutServer } from '../../services/portal/scripts/openapi.ts';

/** The portal's client is generated from a document built without a server; it must be the one the api serves. */
describe('the OpenAPI document the portal is built from', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await startTestContext();
  });
  afterAll(async () => {
    await ctx.stop();
  });

  it('equals /openapi.json of a running api, built with no connection at all', async () => {
    const served = await ctx.request('GET', '/openapi.json');
    expect(served.status).toBe(200);
    const built = JSON.parse(JSON.stringify(buildDocumentWithoutServer()));
    expect(Object.keys(built.paths).length).toBeGreaterThan(50);
    expect(built).toEqual(served.body);
  });
});
