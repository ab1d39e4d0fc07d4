import { useState } from 'preact/hooks';
import { ok, partnerApi, type ResponseOf } from '../api';
import { Checkbox, ErrorMessage, Field, Loading, Notice, Page, SelectField, ShownOnce, Table, useAction, useLoad, when } from '../ui';
import type { Product } from './products';

type Subscription = ResponseOf<'/v1/subscriptions/{subscriptionId}', 'get'>;
type LogEntry = ResponseOf<'/v1/subscriptions/{subscriptionId}/messages', 'get'>['data'][number];
type MessageStatus = LogEntry['status'];

const loadCatalog = () => ok(partnerApi.GET('/v1/functions', { params: { query: { limit: 500 } } }));

/** The pushable functions of a product's latest version, with their event types. */
function pushableFunctions(product: Product, catalog: Awaited<ReturnType<typeof loadCatalog>> | undefined) {
  const latest = product.versions.find((v) => v.number === product.latestVersion);
  const keys = new Set((latest?.functions ?? []).map((f) => f.key));
  return (catalog?.data ?? []).filter((f) => f.pushable && keys.has(f.key));
}

/** On the product preview: its subscriptions, and Create subscription. */
export function SubscriptionList(props: { product: Product }) {
  const subscriptions = useLoad(() => ok(partnerApi.GET('/v1/products/{productId}/subscriptions', { params: { path: { productId: props.product.id }, query: { limit: 500 } } })), [props.product.id]);
  const catalog = useLoad(loadCatalog, []);
  const pushable = pushableFunctions(props.product, catalog.data);
  return (
    <section aria-labelledby="push-title">
      <h2 id="push-title">Push subscriptions</h2>
      <Table
        label="Subscriptions"
        rows={subscriptions.data?.data}
        error={subscriptions.error}
        rowKey={(s) => s.id}
        empty={<p>No subscriptions yet.</p>}
        columns={[
          { header: 'Receiver URL', cell: (s) => <a href={`#/subscriptions/${s.id}`}>{s.url}</a> },
          { header: 'Function', cell: (s) => s.functionKey },
          { header: 'State', cell: (s) => stateText(s) },
          { header: 'Last success', cell: (s) => when(s.lastSuccessAt) },
        ]}
      />
      {pushable.length > 0 ? (
        <a class="button" href={`#/products/${props.product.id}/subscriptions/new`}>
          Create subscription
        </a>
      ) : catalog.data ? (
        <p class="hint">Add a pushable function (such as estates.read) under Change Functions to create a subscription.</p>
      ) : null}
    </section>
  );
}

function stateText(s: Pick<Subscription, 'status' | 'disabledReason'>): string {
  return s.status === 'disabled' ? `disabled: ${s.disabledReason ?? 'no reason given'}` : s.status;
}

/** Create subscription: function, URL, event types, description; Add verifies the receiver first. */
export function NewSubscription(props: { productId: string }) {
  const product = useLoad(() => ok(partnerApi.GET('/v1/products/{productId}', { params: { path: { productId: props.productId } } })), [props.productId]);
  const catalog = useLoad(loadCatalog, []);
  if (!product.data || !catalog.data) return <Loading error={product.error ?? catalog.error} />;
  return <NewSubscriptionForm product={product.data} functions={pushableFunctions(product.data, catalog.data)} />;
}

function NewSubscriptionForm(props: { product: Product; functions: ReturnType<typeof pushableFunctions> }) {
  const [functionKey, setFunctionKey] = useState(props.functions[0]?.key ?? '');
  const fn = props.functions.find((f) => f.key === functionKey);
  const [eventTypes, setEventTypes] = useState<string[]>(fn?.eventTypes ?? []);
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [ordering, setOrdering] = useState<Ordering>('none');
  const [created, setCreated] = useState<Subscription & { secret: string }>();
  const action = useAction();
  if (created) {
    return (
      <Page title="Subscription created">
        <Notice>
          <p>
            Verified: {created.url} answered the signed verification request, so the subscription is {created.status}.
          </p>
        </Notice>
        <ShownOnce label="Signing secret" value={created.secret} />
        <p>Your receiver checks each request's webhook-signature header with this secret (Standard Webhooks).</p>
        <p>
          <a href={`#/subscriptions/${created.id}`}>Go to the delivery log</a> · <a href={`#/products/${props.product.id}`}>Back to the product</a>
        </p>
      </Page>
    );
  }
  return (
    <Page title={`Create subscription – ${props.product.name}`}>
      <p>Before the subscription is stored, the receiver gets a signed verification request and must answer it with a 2xx status.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const answer = await ok(
              partnerApi.POST('/v1/products/{productId}/subscriptions', {
                params: { path: { productId: props.product.id } },
                body: { functionKey, url, ...(eventTypes.length ? { eventTypes } : {}), ...(description ? { description } : {}), ordering },
              }),
            );
            setCreated(answer);
          });
        }}
      >
        <SelectField
          label="Function"
          name="functionKey"
          value={functionKey}
          error={action.error}
          onChange={(key) => {
            setFunctionKey(key);
            setEventTypes(props.functions.find((f) => f.key === key)?.eventTypes ?? []);
          }}
          options={props.functions.map((f) => [f.key, `${f.name} (${f.key})`])}
        />
        <Field label="Receiver URL" name="url" type="url" required value={url} onInput={setUrl} error={action.error} hint="Where we POST the events, e.g. https://example.com/hubhook." />
        <fieldset aria-describedby="event-types-hint">
          <legend>Event types</legend>
          <p class="hint" id="event-types-hint">
            The events to send; all of the function's by default.
          </p>
          {(fn?.eventTypes ?? []).map((type) => (
            <Checkbox key={type} label={type} checked={eventTypes.includes(type)} onChange={(on) => setEventTypes(on ? [...eventTypes, type] : eventTypes.filter((t) => t !== type))} />
          ))}
          {action.error?.field('eventTypes') ? <p class="field-error">{action.error.field('eventTypes')}</p> : null}
        </fieldset>
        <Field label="Description" name="description" value={description} onInput={setDescription} error={action.error} />
        <SelectField label="Ordering" name="ordering" value={ordering} onChange={(v) => setOrdering(v as Ordering)} error={action.error} options={ORDERING_OPTIONS} />
        <p class="hint">{ORDERING_HINT}</p>
        <ErrorMessage error={action.error} what="The subscription was not created" />
        <button type="submit" disabled={action.busy}>
          Add
        </button>
        <a class="button secondary" href={`#/products/${props.product.id}`}>
          Cancel
        </a>
      </form>
    </Page>
  );
}

const STATUSES: MessageStatus[] = ['pending', 'held', 'succeeded', 'dead', 'cancelled'];

type Ordering = Subscription['ordering'];
const ORDERING_OPTIONS: [Ordering, string][] = [
  ['none', 'none: as fast as possible, in any order'],
  ['entity', 'entity: one entity at a time, in publication order'],
];
const ORDERING_HINT =
  'With entity ordering, the events of one entity (installation and entityId) arrive one at a time, in the order HUB published them: a message waits until the one before it was delivered (or went dead). Other entities are not held up.';

/** The subscription's ordering, shown and changed in place. */
function OrderingForm(props: { subscription: Subscription; onSaved: (message: string) => void }) {
  const [ordering, setOrdering] = useState<Ordering>(props.subscription.ordering);
  const save = useAction();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void save.run(async () => {
          await ok(partnerApi.PATCH('/v1/subscriptions/{subscriptionId}', { params: { path: { subscriptionId: props.subscription.id } }, body: { ordering } }));
          props.onSaved(
            ordering === 'entity'
              ? 'Ordering by entity: messages made from now on go one at a time per entity.'
              : 'Ordering off: messages waiting for an earlier one are sent now.',
          );
        });
      }}
    >
      <SelectField label="Ordering" name="ordering" value={ordering} onChange={(v) => setOrdering(v as Ordering)} error={save.error} options={ORDERING_OPTIONS} />
      <p class="hint">{ORDERING_HINT}</p>
      <ErrorMessage error={save.error} what="The ordering was not changed" />
      <button type="submit" class="secondary" disabled={save.busy || ordering === props.subscription.ordering}>
        Save ordering
      </button>
    </form>
  );
}

/** One subscription: its state and actions, its delivery stats, recover, and its delivery log. */
export function SubscriptionPage(props: { id: string }) {
  const subscription = useLoad(() => ok(partnerApi.GET('/v1/subscriptions/{subscriptionId}', { params: { path: { subscriptionId: props.id } } })), [props.id]);
  const stats = useLoad(() => ok(partnerApi.GET('/v1/subscriptions/{subscriptionId}/stats', { params: { path: { subscriptionId: props.id } } })), [props.id]);
  const [status, setStatus] = useState<MessageStatus | ''>('');
  const log = useLoad(
    () => ok(partnerApi.GET('/v1/subscriptions/{subscriptionId}/messages', { params: { path: { subscriptionId: props.id }, query: { limit: 100, ...(status ? { status } : {}) } } })),
    [props.id, status],
  );
  const action = useAction();
  const [secret, setSecret] = useState<string>();
  const [done, setDone] = useState<string>();
  const [since, setSince] = useState('');
  const recover = useAction();
  if (!subscription.data) return <Loading error={subscription.error} />;
  const s = subscription.data;
  const path = { params: { path: { subscriptionId: s.id } } };
  const refresh = () => {
    subscription.reload();
    stats.reload();
    log.reload();
  };
  return (
    <Page title={`Subscription to ${s.functionKey}`}>
      <p>
        <a href={`#/products/${s.productId}`}>Back to the product</a>
      </p>
      <dl class="facts">
        <dt>Receiver URL</dt>
        <dd>{s.url}</dd>
        <dt>Event types</dt>
        <dd>{s.eventTypes.join(', ')}</dd>
        <dt>State</dt>
        <dd>{stateText(s)}</dd>
        <dt>Description</dt>
        <dd>{s.description || '–'}</dd>
        <dt>Ordering</dt>
        <dd>{s.ordering === 'entity' ? 'by entity (one at a time, in publication order)' : 'none'}</dd>
        <dt>Last success</dt>
        <dd>{when(s.lastSuccessAt)}</dd>
        <dt>Last failure</dt>
        <dd>
          {when(s.lastFailureAt)}
          {s.consecutiveFailures ? ` (${s.consecutiveFailures} in a row)` : ''}
        </dd>
      </dl>
      <div class="actions">
        {s.status === 'active' ? (
          <button type="button" disabled={action.busy} onClick={() => void action.run(async () => (await ok(partnerApi.POST('/v1/subscriptions/{subscriptionId}/pause', path)), setDone('Paused: messages wait, nothing is dropped.'), refresh()))}>
            Pause
          </button>
        ) : null}
        {s.status === 'paused' ? (
          <button type="button" disabled={action.busy} onClick={() => void action.run(async () => (await ok(partnerApi.POST('/v1/subscriptions/{subscriptionId}/resume', path)), setDone('Resumed: waiting messages are delivered.'), refresh()))}>
            Resume
          </button>
        ) : null}
        <button
          type="button"
          class="secondary"
          disabled={action.busy}
          onClick={() =>
            void action.run(async () => {
              const answer = await ok(partnerApi.POST('/v1/subscriptions/{subscriptionId}/rotate-secret', path));
              setSecret(answer.secret);
              setDone(`New signing secret made; the previous one keeps signing until ${when(answer.previousSecretExpiresAt)}.`);
            })
          }
        >
          Rotate secret
        </button>
        <button
          type="button"
          class="secondary"
          disabled={action.busy}
          onClick={() =>
            void action.run(async () => {
              await ok(partnerApi.POST('/v1/subscriptions/{subscriptionId}/test', path));
              setDone('An example event is on its way.');
              window.setTimeout(refresh, 1500);
            })
          }
        >
          Send test event
        </button>
      </div>
      <ErrorMessage error={action.error} />
      {done ? <Notice>{done}</Notice> : null}
      {secret ? <ShownOnce label="New signing secret" value={secret} /> : null}
      <OrderingForm
        key={s.ordering}
        subscription={s}
        onSaved={(message) => {
          setDone(message);
          refresh();
        }}
      />

      <section aria-labelledby="stats-title">
        <h2 id="stats-title">Delivery stats</h2>
        {stats.data ? (
          <dl class="facts">
            <dt>Window</dt>
            <dd>last {stats.data.window}</dd>
            <dt>Attempts</dt>
            <dd>{stats.data.attempts}</dd>
            <dt>Succeeded</dt>
            <dd>{stats.data.successes}</dd>
            <dt>Failed</dt>
            <dd>{stats.data.failures}</dd>
            <dt>Success rate</dt>
            <dd>{stats.data.successRate === null ? '–' : `${Math.round(stats.data.successRate * 1000) / 10} %`}</dd>
            <dt>Latency p50 / p95</dt>
            <dd>
              {stats.data.latencyMs.p50 ?? '–'} ms / {stats.data.latencyMs.p95 ?? '–'} ms
            </dd>
          </dl>
        ) : (
          <Loading error={stats.error} />
        )}
      </section>

      <section aria-labelledby="recover-title">
        <h2 id="recover-title">Recover</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void recover.run(async () => {
              const at = since ? new Date(since) : null;
              const answer = await ok(partnerApi.POST('/v1/subscriptions/{subscriptionId}/recover', { ...path, body: { since: at && !Number.isNaN(at.getTime()) ? at.toISOString() : since } }));
              setDone(`${answer.requeued} failed or dead ${answer.requeued === 1 ? 'message is' : 'messages are'} sent again.`);
              refresh();
            });
          }}
        >
          <Field label="Send again every failed or dead message since" name="since" type="datetime-local" required value={since} onInput={setSince} error={recover.error} />
          <ErrorMessage error={recover.error} what="Nothing was recovered" />
          <button type="submit" disabled={recover.busy}>
            Recover
          </button>
        </form>
      </section>

      <section aria-labelledby="log-title">
        <h2 id="log-title">Delivery log</h2>
        <div class="actions">
          <SelectField label="Show" name="status" value={status} onChange={(v) => setStatus(v as MessageStatus | '')} options={[['', 'all messages'], ...STATUSES.map((st): [string, string] => [st, st])]} />
          <button type="button" class="secondary" onClick={refresh}>
            Refresh
          </button>
        </div>
        {log.data ? <DeliveryLog entries={log.data.data} onChange={refresh} /> : <Loading error={log.error} />}
      </section>
    </Page>
  );
}

function DeliveryLog(props: { entries: LogEntry[]; onChange: () => void }) {
  const [open, setOpen] = useState<string>();
  const resend = useAction();
  if (props.entries.length === 0) return <p>No messages yet.</p>;
  return (
    <>
      <ErrorMessage error={resend.error} what="The message was not sent again" />
      <Table
        label="Delivery log"
        rows={props.entries}
        rowKey={(m) => m.id}
        detail={(m) => (open === m.id ? <Attempts messageId={m.id} /> : null)}
        detailId={(m) => `attempts-${m.id}`}
        columns={[
          {
            header: 'Event',
            cell: (m) => (
              <>
                {m.eventType} <code>{m.eventId}</code>
              </>
            ),
          },
          { header: 'Installation', cell: (m) => m.installationId },
          {
            header: 'Status',
            cell: (m) => (
              <>
                {m.status}
                {m.waitingFor ? (
                  <span class="hint">
                    {' '}
                    waiting for <code>{m.waitingFor}</code> ({m.entityId})
                  </span>
                ) : null}
              </>
            ),
          },
          { header: 'Attempts', cell: (m) => m.attempts },
          { header: 'Last answer', cell: (m) => m.lastStatusCode ?? m.lastError ?? '–' },
          { header: 'Created', cell: (m) => when(m.createdAt) },
          {
            header: 'Actions',
            hidden: true,
            class: 'row-actions',
            cell: (m) => (
              <>
                <button type="button" class="secondary" aria-expanded={open === m.id} aria-controls={`attempts-${m.id}`} aria-label={`Attempts of ${m.eventId}`} onClick={() => setOpen(open === m.id ? undefined : m.id)}>
                  Attempts
                </button>
                <button
                  type="button"
                  class="secondary"
                  aria-label={`Resend ${m.eventId}`}
                  disabled={resend.busy}
                  onClick={() =>
                    void resend.run(async () => {
                      await ok(partnerApi.POST('/v1/messages/{messageId}/resend', { params: { path: { messageId: m.id } } }));
                      props.onChange();
                    })
                  }
                >
                  Resend
                </button>
              </>
            ),
          },
        ]}
      />
    </>
  );
}

function Attempts(props: { messageId: string }) {
  const message = useLoad(() => ok(partnerApi.GET('/v1/messages/{messageId}', { params: { path: { messageId: props.messageId } } })), [props.messageId]);
  if (!message.data) return <Loading error={message.error} />;
  return (
    <Table
      label={`Attempts of ${message.data.eventId}`}
      rows={message.data.attemptLog}
      rowKey={(a) => a.attempt}
      empty={<p>No attempt yet.</p>}
      columns={[
        { header: 'Attempt', cell: (a) => a.attempt },
        { header: 'At', cell: (a) => when(a.attemptedAt) },
        { header: 'Outcome', cell: (a) => a.outcome },
        { header: 'Status', cell: (a) => a.statusCode ?? a.error ?? '–' },
        { header: 'Took', cell: (a) => `${a.durationMs} ms` },
        { header: "Receiver's answer", cell: (a) => <code>{a.responseBody ?? ''}</code> },
      ]}
    />
  );
}
