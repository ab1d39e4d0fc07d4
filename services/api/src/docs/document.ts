/**
 * The OpenAPI 3.1 document, generated from the schemas the routes validate with, plus what
 * the routes cannot say for themselves: the security schemes, the shared response headers,
 * the webhooks receivers get, the examples, and `format: date-time` on timestamps.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { DEFAULT_FUNCTIONS } from '#shared/db/seeds/functions';
import type { Config } from '#shared/config';
import type { ApiRoutes } from '../http/route.ts';
import { RESPONSE_HEADERS } from './responses.ts';
import { SECURITY_SCHEMES } from './security.ts';
import { EXAMPLES } from './examples.ts';
import { deliveryContract, registerWebhooks, type WebhookDocsOptions } from './webhooks.ts';

/** The generated document. */
export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

/** What the document describes beyond the routes: the catalog's event types and the delivery settings. */
export type DocumentOptions = WebhookDocsOptions;

/** The options of a running api: the seeded catalog and its configured delivery settings. */
export function documentOptions(config: Pick<Config, 'retryScheduleMs' | 'disableAfterMs'>): DocumentOptions {
  return { functions: DEFAULT_FUNCTIONS, retryScheduleMs: config.retryScheduleMs, disableAfterMs: config.disableAfterMs };
}

type Json = { [key: string]: unknown };
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

// Timestamps are named `…At` throughout the API and carried as ISO 8601 strings; saying so once
// here keeps every schema file free of it and no new field can miss it.
const TIMESTAMP_NAME = /At$/;
const isStringish = (schema: Json) =>
  schema.type === 'string' || (Array.isArray(schema.type) && schema.type.includes('string') && schema.type.every((t) => t === 'string' || t === 'null'));

function markTimestamps(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(markTimestamps);
    return;
  }
  if (!isObject(node)) return;
  if (isObject(node.properties)) {
    for (const [name, property] of Object.entries(node.properties)) {
      if (TIMESTAMP_NAME.test(name) && isObject(property) && isStringish(property) && property.format === undefined) property.format = 'date-time';
    }
  }
  for (const value of Object.values(node)) markTimestamps(value);
}

/** Builds the document from the routes added to `api`. */
export function buildOpenApiDocument(api: ApiRoutes, options: DocumentOptions): OpenApiDocument {
  const registry = new OpenAPIRegistry([api.registry]);
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) registry.registerComponent('securitySchemes', name, { ...scheme });
  for (const [name, header] of Object.entries(RESPONSE_HEADERS)) registry.registerComponent('headers', name, { ...header });
  registerWebhooks(registry, options);

  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'hubhook API',
      version: '1',
      description: [
        'Partner portal backend and webhook delivery engine for the HUB API.',
        '',
        'Every error answer has the `Error` body: branch on `error.code`; `error.details` name each offending field. Every answer carries `x-request-id`.',
        '',
        `Webhooks: ${deliveryContract(options)}`,
      ].join('\n'),
    },
    servers: [{ url: '/' }],
  });
  const schemas = (document.components?.schemas ?? {}) as Record<string, Json>;
  for (const [name, example] of Object.entries(EXAMPLES)) {
    const schema = schemas[name];
    if (!schema) throw new Error(`an example for ${name}, which is not a schema of the document`);
    schema.example = example;
  }
  markTimestamps(document.components);
  markTimestamps(document.paths);
  markTimestamps(document.webhooks);
  return document;
}
