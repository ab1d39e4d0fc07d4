/**
 * Examples of the main schemas and request bodies, by component name, as the reference page
 * and generated clients show them. One story runs through them (Fjord Proptech's map product,
 * subscribed to estates.read for MSVPAR), so the ids agree from one to the next. The document
 * builder refuses an example for a schema that does not exist, and the document's test checks
 * each one against its schema, so a renamed field cannot leave a stale example behind.
 */

const PARTNER = 'ptn_01jh0p4rtn3r00000000000000';
const PRODUCT = 'prd_01jh0pr0duct0000000000000';
const SUBSCRIPTION = 'sub_01jh0subscr1pt10n00000000';
const MESSAGE = 'msg_01jh2m3n4p5q6r7s8t9v0w1x2y';
const USER = 'usr_01jh0us3r000000000000000';
const AT = '2026-01-05T12:00:00.000Z';
const LATER = '2026-01-05T12:00:01.250Z';

const subscription = {
  id: SUBSCRIPTION,
  productId: PRODUCT,
  functionKey: 'estates.read',
  url: 'https://hooks.fjord.example/hubhook',
  eventTypes: ['estate.created', 'estate.updated'],
  description: 'Open houses on the map',
  status: 'active',
  state: 'active',
  disabledReason: null,
  previousSecretExpiresAt: null,
  lastSuccessAt: LATER,
  lastFailureAt: null,
  consecutiveFailures: 0,
  rateLimitPerSecond: null,
  maxRateLimitPerSecond: null,
  ordering: 'entity',
  createdAt: AT,
  updatedAt: AT,
};

const message = {
  id: MESSAGE,
  subscriptionId: SUBSCRIPTION,
  eventId: 'evt-1',
  eventType: 'estate.updated',
  installationId: 'MSVPAR',
  status: 'succeeded',
  entityId: 'est-42',
  waitingFor: null,
  attempts: 1,
  nextAttemptAt: null,
  lastAttemptAt: LATER,
  lastStatusCode: 200,
  lastError: null,
  createdAt: AT,
  succeededAt: LATER,
};

const attempt = {
  attempt: 1,
  attemptedAt: LATER,
  durationMs: 84,
  outcome: 'success',
  statusCode: 200,
  error: null,
  errorMessage: null,
  responseBody: 'ok',
  responseBodyBase64: 'b2s=',
  responseBodyEncoding: 'utf8',
  responseBodyTruncated: false,
  responseStatusText: 'OK',
  responseHeaders: { 'content-type': 'text/plain', 'content-length': '2' },
  responseHeadersOmitted: 0,
};

const version = {
  number: 1,
  status: 'active',
  createdAt: AT,
  activatedAt: AT,
  activations: 1,
  functions: [{ key: 'estates.read', requireAccess: true, filters: { estateStatus: ['for_sale'] } }],
};

const product = {
  id: PRODUCT,
  partnerId: PARTNER,
  name: 'Fjord Map',
  type: 'rights',
  description: 'Open houses on a map',
  orderUrl: null,
  availability: { mode: 'all', installationIds: [] },
  status: 'active',
  activeVersion: 1,
  latestVersion: 1,
  login: 'fjord-map-efm88mew9r',
  credentials: [{ keyId: 'crd_01jh0cr3d3nt1a1000000000', createdAt: AT, revokedAt: null }],
  versions: [version],
  createdAt: AT,
  updatedAt: AT,
};

const partner = { id: PARTNER, name: 'Fjord Proptech AS', contactEmail: 'ola@fjord.test', createdAt: AT };
const user = { id: USER, partnerId: PARTNER, email: 'ola@fjord.test', isContact: true, createdAt: AT };

/** Examples by component schema name. */
export const EXAMPLES: Record<string, unknown> = {
  Subscription: subscription,
  // The create rule: the resource at the top level beside its one-time secret; the nested copy is deprecated.
  CreatedSubscription: { ...subscription, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', subscription },
  CreateSubscriptionRequest: {
    functionKey: 'estates.read',
    url: 'https://hooks.fjord.example/hubhook',
    eventTypes: ['estate.created', 'estate.updated'],
    description: 'Open houses on the map',
    ordering: 'entity',
  },
  UpdateSubscriptionRequest: { eventTypes: ['estate.updated'] },
  // With ordering `entity`: the next update of est-42 waits until the one before it is delivered.
  Message: {
    ...message,
    id: 'msg_01jh2m3n4p5q6r7s8t9v0w1x3z',
    eventId: 'evt-2',
    status: 'pending',
    waitingFor: MESSAGE,
    attempts: 0,
    lastAttemptAt: null,
    lastStatusCode: null,
    succeededAt: null,
  },
  Attempt: attempt,
  AttemptRecord: { id: '9001', messageId: MESSAGE, subscriptionId: SUBSCRIPTION, eventId: 'evt-1', eventType: 'estate.updated', installationId: 'MSVPAR', ...attempt },
  RecoverMessagesRequest: { since: AT, until: LATER },
  MessageDetail: {
    ...message,
    payload: {
      type: 'estate.updated',
      timestamp: AT,
      data: { estateStatus: 'for_sale' },
      eventId: 'evt-1',
      installationId: 'MSVPAR',
      entityId: 'est-42',
      occurredAt: '2026-01-05T11:59:58.000Z',
    },
    attemptLog: [attempt],
  },
  Product: product,
  CreateProductRequest: { name: 'Fjord Map', type: 'rights', description: 'Open houses on a map' },
  Version: version,
  Partner: partner,
  CreatePartnerRequest: { name: 'Fjord Proptech AS', contactEmail: 'ola@fjord.test' },
  User: user,
  CreatedPartner: { ...partner, user, apiKey: 'hhk_…', partner },
  CreatedUser: { ...user, apiKey: 'hhk_…', user },
  UnroutableEvent: { eventId: 'evt-7', installationId: 'NOSUCH', type: 'estate.updated', reason: 'unknown_installation', receivedAt: AT },
  PublishEventsRequest: {
    events: [
      {
        id: 'evt-1',
        installationId: 'MSVPAR',
        type: 'estate.updated',
        entityId: 'est-42',
        occurredAt: '2026-01-05T11:59:58Z',
        data: { estateStatus: 'for_sale', departmentId: 'dep-1001' },
      },
    ],
  },
  PublishEventsResult: {
    accepted: 1,
    duplicates: 0,
    rejected: [{ index: 1, id: 'evt-2', details: [{ path: 'body.events.1.occurredAt', message: 'must be from 1970-01-01 to 9999-12-31', code: 'out_of_range' }] }],
  },
  RejectedEvent: { index: 1, id: 'evt-2', details: [{ path: 'body.events.1.occurredAt', message: 'must be from 1970-01-01 to 9999-12-31', code: 'out_of_range' }] },
  AccessCheckRequest: { login: 'fjord-map-efm88mew9r', accessKey: 'hhp_…', installationId: 'MSVPAR', functionKey: 'estates.read' },
  AccessDecision: { allowed: true, reason: 'granted', via: 'product', productId: PRODUCT },
  CatalogFunction: {
    key: 'estates.read',
    name: 'Read estates',
    description: 'Estates (properties for sale or rent) with address, status, prices, key figures and brokers.',
    eventTypes: ['estate.created', 'estate.updated', 'estate.deleted'],
    filterFields: ['departmentId', 'estateStatus', 'estateType'],
    pushable: true,
    createdAt: AT,
    updatedAt: AT,
  },
};
