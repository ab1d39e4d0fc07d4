/**
 * Writes the OpenAPI document, built from the route specs without a running api, so a build
 * step (the portal UI's, a partner's) can generate a typed client:
 *
 *   npm run openapi                          # the document on stdout
 *   npm run openapi -- --out openapi.json    # ... to a file
 *   npm run openapi -- --types api.d.ts      # TypeScript types (openapi-typescript), for openapi-fetch
 *
 * Both flags may be given together. Needs no database, Redis or settings.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { buildOfflineOpenApiDocument } from '#api/docs/offline';

const { values } = parseArgs({ options: { out: { type: 'string' }, types: { type: 'string' } } });
const document = await buildOfflineOpenApiDocument();
const json = `${JSON.stringify(document, null, 2)}\n`;
if (values.out) writeFileSync(values.out, json);
if (values.types) writeFileSync(values.types, astToString(await openapiTS(document as Parameters<typeof openapiTS>[0])));
if (!values.out && !values.types) process.stdout.write(json);
