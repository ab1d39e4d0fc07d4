import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestContext, type TestContext } from '../support/context.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A small program as an integrator writes it against the generated types: named schema types,
 * a typed call, and the error narrowed to the `Error` schema. Each `@ts-expect-error` marks a
 * line that must NOT type-check; if the types degrade to `any`, those lines compile and the
 * directive itself becomes the error, and if `error` degrades to `never`, `error.error.code`
 * does not compile. Either way the check fails.
 */
const PROGRAM = `
import createClient from 'openapi-fetch';
import type { components, paths } from './schema.ts';

type Subscription = components['schemas']['Subscription'];
type ApiError = components['schemas']['Error'];

const client = createClient<paths>({ baseUrl: 'http://127.0.0.1:3000' });

export async function subscribe(productId: string, url: string): Promise<Subscription> {
  const { data, error, response } = await client.POST('/v1/products/{productId}/subscriptions', {
    params: { path: { productId } },
    body: { functionKey: 'estates.read', url, eventTypes: ['estate.updated'] },
  });
  if (error) {
    const code: string = error.error.code;
    const problem: ApiError = error;
    const fields: string[] = problem.error.details.map((d) => d.path);
    const requestId: string = problem.error.requestId;
    throw new Error(\`\${response.status} \${code} (request \${requestId}): \${fields.join(', ')}\`);
  }
  // The create answer is the subscription itself, beside its one-time secret.
  const secret: string = data.secret;
  void secret;
  return data;
}

export async function firstPage(productId: string): Promise<Subscription[]> {
  const { data, error } = await client.GET('/v1/products/{productId}/subscriptions', {
    params: { path: { productId }, query: { limit: 10 } },
  });
  if (error) throw new Error(error.error.message);
  const next: string | null = data.nextCursor;
  void next;
  return data.data;
}

export async function misuse(subscription: Subscription): Promise<void> {
  // @ts-expect-error: the Error schema has no such field (compiles if error were any)
  (await client.GET('/v1/subscriptions/{subscriptionId}', { params: { path: { subscriptionId: subscription.id } } })).error?.error.nope;
  // @ts-expect-error: url is required
  await client.POST('/v1/products/{productId}/subscriptions', { params: { path: { productId: 'prd_1' } }, body: { functionKey: 'estates.read' } });
  // @ts-expect-error: no such route
  await client.GET('/v1/no-such-route');
  // @ts-expect-error: createdAt is a string, not a number
  const at: number = subscription.createdAt;
  void at;
}
`;

/** What the type-check of one variant of the document gave. */
interface Checked {
  types: string;
  errors: string[];
}

/**
 * Generates types from each document into its own folder beside PROGRAM, and type-checks all
 * of them in one TypeScript program (the standard library is read once).
 */
async function typeCheck(dir: string, documents: Record<string, unknown>): Promise<Record<string, Checked>> {
  const roots: Record<string, string> = {};
  const generated: Record<string, string> = {};
  for (const [name, document] of Object.entries(documents)) {
    const folder = path.join(dir, name);
    mkdirSync(folder);
    generated[name] = astToString(await openapiTS(document as Parameters<typeof openapiTS>[0]));
    writeFileSync(path.join(folder, 'schema.ts'), generated[name]);
    writeFileSync(path.join(folder, 'client.ts'), PROGRAM);
    roots[name] = path.join(folder, 'client.ts');
  }
  const program = ts.createProgram(Object.values(roots), {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: [],
  });
  const out: Record<string, Checked> = {};
  for (const [name, root] of Object.entries(roots)) {
    const file = program.getSourceFile(root)!;
    const errors = [...program.getSemanticDiagnostics(file), ...program.getSyntacticDiagnostics(file)].map(
      (d) => `client.ts:${d.start === undefined ? '' : file.getLineAndCharacterOfPosition(d.start).line + 1} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
    );
    out[name] = { types: generated[name]!, errors };
  }
  return out;
}

/** The document with every error answer's body removed: what it was before, when a client's `error` was `never`. */
function withoutErrorBodies(document: Record<string, unknown>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(document)) as { paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>> };
  for (const item of Object.values(copy.paths)) {
    for (const operation of Object.values(item)) {
      for (const [status, response] of Object.entries(operation.responses)) if (Number(status) >= 400) delete response.content;
    }
  }
  return copy;
}

describe('a client generated from the live document (openapi-typescript + openapi-fetch)', () => {
  let ctx: TestContext;
  let document: Record<string, unknown>;
  let dir: string;
  let checked: Record<string, Checked>;
  beforeAll(async () => {
    ctx = await startTestContext();
    document = (await ctx.request('GET', '/openapi.json')).body;
    // Inside the repository's node_modules, so the program resolves openapi-fetch as a user's would.
    mkdirSync(path.join(ROOT, 'node_modules', '.cache'), { recursive: true });
    dir = mkdtempSync(path.join(ROOT, 'node_modules', '.cache', 'openapi-client-'));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  });
  afterAll(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ctx?.stop();
  });

  it('type-checks a program using named types, a call, and errors narrowed to Error', { timeout: 180_000 }, async () => {
    checked = await typeCheck(dir, { live: document, degraded: withoutErrorBodies(document) });
    const { types, errors } = checked.live!;
    console.warn(`generated client: ${types.split('\n').length} lines of types; type-check of the program: ${errors.length} errors`);
    expect(errors).toEqual([]);
    // Named types and operations, not inline shapes.
    expect(types).toMatch(/^\s+Subscription: \{$/m);
    expect(types).toMatch(/^\s+Error: \{$/m);
    expect(types).toMatch(/^\s+createSubscription: \{$/m);
    expect(types).toContain('"application/json": components["schemas"]["Error"]');
  });

  it('fails the same program when error bodies are missing from the document (error: never)', () => {
    expect(checked.degraded!.errors.join('\n')).toMatch(/Property 'error' does not exist on type 'never'/);
  });
});
