import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './generated/api';

/** Who a credential belongs to: a partner's e-mail session, or the operator token. */
export type Role = 'partner' | 'operator';

// sessionStorage: a credential lives as long as the tab, is never put in a URL, and is not
// shared with other tabs or kept after the browser closes.
const STORAGE_KEY: Record<Role, string> = { partner: 'hubhook.partnerSession', operator: 'hubhook.operatorToken' };

/** The credential kept for a role in this tab. */
export const credentials = {
  get: (role: Role): string | null => sessionStorage.getItem(STORAGE_KEY[role]),
  set: (role: Role, token: string): void => sessionStorage.setItem(STORAGE_KEY[role], token),
  clear: (role: Role): void => sessionStorage.removeItem(STORAGE_KEY[role]),
};

/** Fired when the API refuses a kept credential (expired session, changed token). */
export const SIGNED_OUT_EVENT = 'hubhook:signed-out';

function clientFor(role: Role | null): Client<paths> {
  const client = createClient<paths>({ baseUrl: location.origin });
  if (role) {
    client.use({
      onRequest({ request }) {
        const token = credentials.get(role);
        if (token) request.headers.set('authorization', `Bearer ${token}`);
        return request;
      },
      onResponse({ request, response }) {
        // A 401 to a request that carried a credential means the credential is no longer good.
        if (response.status === 401 && request.headers.has('authorization')) {
          credentials.clear(role);
          window.dispatchEvent(new CustomEvent(SIGNED_OUT_EVENT, { detail: role }));
        }
        return response;
      },
    });
  }
  return client;
}

/** Clients typed from the OpenAPI document: no token, the partner's session, the operator token. */
export const publicApi = clientFor(null);
export const partnerApi = clientFor('partner');
export const opsApi = clientFor('operator');

/** One field problem from the API's `error.details`. */
export interface ErrorDetail {
  path: string;
  message: string;
  code?: string;
}

/**
 * An error answer, in the API's shape `{error: {code, message, details: [{path, message}]}}`.
 * Field errors are keyed by the field's path without its `body.`/`query.` part and list
 * indexes (`body.availability.installationIds.0` is `availability.installationIds`).
 */
export class ApiError extends Error {
  readonly fields: Record<string, string> = {};
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[],
  ) {
    super(message);
    for (const detail of details) {
      const key = detail.path
        .split('.')
        .filter((part, i) => !(i === 0 && ['body', 'query', 'params'].includes(part)) && !/^\d+$/.test(part))
        .join('.');
      this.fields[key] = this.fields[key] ? `${this.fields[key]}; ${detail.message}` : detail.message;
    }
  }

  /** The message for a field (or one nested under it), if the API named it. */
  field(name: string): string | undefined {
    return this.fields[name] ?? Object.entries(this.fields).find(([key]) => key.startsWith(`${name}.`))?.[1];
  }

  /** Reads an error body; anything not in the API's shape still becomes a readable error. */
  static from(status: number, body: unknown): ApiError {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      const details = Array.isArray(error.details)
        ? error.details.filter((d): d is ErrorDetail => typeof d?.path === 'string' && typeof d?.message === 'string')
        : [];
      return new ApiError(status, error.code, error.message, details);
    }
    return new ApiError(status, 'unexpected_answer', `the server answered ${status}`, []);
  }
}

/** Awaits an openapi-fetch call: its data on a 2xx, else throws the ApiError it answered. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError(0, 'network_error', 'the portal could not reach the server; try again', []);
  }
  if (result.response.ok) return result.data as T;
  throw ApiError.from(result.response.status, result.error);
}

/** The JSON a route answers with status `S`, as the OpenAPI document describes it. */
export type ResponseOf<P extends keyof paths, M extends keyof paths[P], S extends number = 200> = paths[P][M] extends {
  responses: { [K in S]: { content: { 'application/json': infer T } } };
}
  ? T
  : never;
