import { z } from 'zod';
import { PageQuery, pageOf } from '../http/pagination.ts';

export const MintApiKeyBody = z.object({
  /** What the key is for, e.g. the server that holds it. */
  name: z.string().trim().min(1).max(100),
}).meta({ id: 'MintApiKeyRequest' });

export const ApiKeyParams = z.object({ keyId: z.string() });

export const ApiKey = z.object({
  id: z.string(),
  name: z.string().nullable(),
  createdAt: z.string(),
  /** To the minute: a key in use is written at most once a minute. */
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
}).meta({ id: 'ApiKey' });
export type ApiKeyView = z.infer<typeof ApiKey>;

/** A new key: the token is shown here once; only its hash is kept. */
export const MintedApiKey = ApiKey.extend({
  token: z.string(),
  apiKey: ApiKey.meta({ deprecated: true, description: 'Deprecated: the same fields as the top level; removed in the next version.' }),
}).meta({ id: 'MintedApiKey' });

export const ListApiKeysQuery = PageQuery;
export const ApiKeyPage = pageOf(ApiKey);
