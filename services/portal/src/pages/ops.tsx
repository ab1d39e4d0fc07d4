import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { credentials, ok, opsApi, type ResponseOf } from '../api';
import { Checkbox, ErrorMessage, Field, Loaded, Notice, Page, Table, navigate, useAction, useLoad, when } from '../ui';

/** Operator sign-in: the operator token, kept for this tab only. */
export function OpsSignIn() {
  const [token, setToken] = useState('');
  const action = useAction();
  return (
    <Page title="Operator sign-in">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            credentials.set('operator', token.trim());
            try {
              await ok(opsApi.GET('/v1/partners', { params: { query: { limit: 1 } } }));
            } catch (err) {
              credentials.clear('operator');
              throw err;
            }
            navigate('/ops/applications');
          });
        }}
      >
        <Field label="Operator token" name="token" type="password" autoComplete="off" required value={token} onInput={setToken} error={action.error} hint="Kept in this browser tab only, until you sign out or close it." />
        <ErrorMessage error={action.error} what="Not signed in" />
        <button type="submit" disabled={action.busy}>
          Sign in
        </button>
      </form>
    </Page>
  );
}

/** Applications to approve or reject. */
export function Applications() {
  const [status, setStatus] = useState<'pending' | 'approved' | 'rejected'>('pending');
  const list = useLoad(() => ok(opsApi.GET('/v1/applications', { params: { query: { status, limit: 500 } } })), [status]);
  const [done, setDone] = useState<string>();
  return (
    <Page title="Applications">
      <div class="field">
        <label for="application-status">Show</label>
        <select id="application-status" value={status} onChange={(e) => setStatus(e.currentTarget.value as typeof status)}>
          <option value="pending">pending</option>
          <option value="approved">approved</option>
          <option value="rejected">rejected</option>
        </select>
      </div>
      {done ? <Notice>{done}</Notice> : null}
      <Loaded items={list.data?.data} error={list.error} empty={<p>No {status} applications.</p>}>
        {(applications) =>
          applications.map((a) => (
            <Application
              key={a.id}
              application={a}
              onDecided={(text) => {
                setDone(text);
                list.reload();
              }}
            />
          ))
        }
      </Loaded>
    </Page>
  );
}

type ApplicationRow = ResponseOf<'/v1/applications', 'get'>['data'][number];

function Application(props: { application: ApplicationRow; onDecided: (text: string) => void }) {
  const a = props.application;
  const [reason, setReason] = useState('');
  const approve = useAction();
  const reject = useAction();
  return (
    <article class="card" aria-labelledby={`app-${a.id}`}>
      <h2 id={`app-${a.id}`}>{a.companyName}</h2>
      <dl class="facts">
        <dt>Organisation number</dt>
        <dd>{a.organisationNumber}</dd>
        <dt>Contact</dt>
        <dd>
          {a.contactName} &lt;{a.contactEmail}&gt;
        </dd>
        <dt>Purpose</dt>
        <dd>{a.purpose}</dd>
        <dt>Received</dt>
        <dd>{when(a.createdAt)}</dd>
        {a.status !== 'pending' ? (
          <>
            <dt>Decision</dt>
            <dd>
              {a.status} {when(a.decidedAt)} {a.decisionReason ?? ''}
            </dd>
          </>
        ) : null}
      </dl>
      {a.status === 'pending' ? (
        <>
          <ErrorMessage error={approve.error} what="Not approved" />
          <button
            type="button"
            aria-label={`Approve ${a.companyName}`}
            disabled={approve.busy}
            onClick={() =>
              void approve.run(async () => {
                const answer = await ok(opsApi.POST('/v1/applications/{applicationId}/approve', { params: { path: { applicationId: a.id } } }));
                props.onDecided(`${a.companyName} is approved: partner ${answer.partner.id}; ${answer.user.email} is e-mailed how to sign in.`);
              })
            }
          >
            Approve
          </button>
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void reject.run(async () => {
                await ok(opsApi.POST('/v1/applications/{applicationId}/reject', { params: { path: { applicationId: a.id } }, body: { reason } }));
                props.onDecided(`${a.companyName} is rejected; the applicant is e-mailed the reason.`);
              });
            }}
          >
            <Field label={`Reason for rejecting ${a.companyName}`} name="reason" value={reason} onInput={setReason} error={reject.error} />
            <ErrorMessage error={reject.error} what="Not rejected" />
            <button type="submit" class="danger" aria-label={`Reject ${a.companyName}`} disabled={reject.busy}>
              Reject
            </button>
          </form>
        </>
      ) : null}
    </article>
  );
}

/** Partners. */
export function Partners() {
  const list = useLoad(() => ok(opsApi.GET('/v1/partners', { params: { query: { limit: 500 } } })), []);
  return (
    <Page title="Partners">
      <Table
        label="Partners"
        rows={list.data?.data}
        error={list.error}
        rowKey={(p) => p.id}
        columns={[
          { header: 'Name', cell: (p) => p.name },
          { header: 'Contact person', cell: (p) => p.contactEmail },
          { header: 'Partner ID', cell: (p) => <code>{p.id}</code> },
          { header: 'Since', cell: (p) => when(p.createdAt) },
        ]}
      />
    </Page>
  );
}

/** Installations: the list, and Add installation. */
export function Installations() {
  const list = useLoad(() => ok(opsApi.GET('/v1/installations', { params: { query: { limit: 500 } } })), []);
  const [form, setForm] = useState({ installationId: '', name: '' });
  const action = useAction();
  return (
    <Page title="Installations">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            await ok(opsApi.POST('/v1/installations', { body: form }));
            setForm({ installationId: '', name: '' });
            list.reload();
          });
        }}
      >
        <h2>Add installation</h2>
        <Field label="InstallationID" name="installationId" required value={form.installationId} onInput={(installationId) => setForm({ ...form, installationId })} error={action.error} />
        <Field label="Installation name" name="name" required value={form.name} onInput={(name) => setForm({ ...form, name })} error={action.error} />
        <ErrorMessage error={action.error} what="The installation was not added" />
        <button type="submit" disabled={action.busy}>
          Add installation
        </button>
      </form>
      <h2>All installations</h2>
      <Table
        label="Installations"
        rows={list.data?.data}
        error={list.error}
        rowKey={(i) => i.installationId}
        columns={[
          { header: 'InstallationID', cell: (i) => i.installationId },
          { header: 'Name', cell: (i) => i.name },
          { header: 'Since', cell: (i) => when(i.createdAt) },
        ]}
      />
    </Page>
  );
}

const words = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** The function catalog: the list, and Save function (create or replace). */
export function FunctionCatalog() {
  const list = useLoad(() => ok(opsApi.GET('/v1/functions', { params: { query: { limit: 500 } } })), []);
  const empty = { key: '', name: '', description: '', eventTypes: '', filterFields: '' };
  const [form, setForm] = useState(empty);
  const [saved, setSaved] = useState<string>();
  const action = useAction();
  return (
    <Page title="Function catalog">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(undefined);
          void action.run(async () => {
            const fn = await ok(
              opsApi.PUT('/v1/functions/{functionKey}', {
                params: { path: { functionKey: form.key.trim() } },
                body: { name: form.name, description: form.description, eventTypes: words(form.eventTypes), filterFields: words(form.filterFields) },
              }),
            );
            setSaved(`${fn.key} is saved${fn.pushable ? ' (pushable)' : ''}.`);
            setForm(empty);
            list.reload();
          });
        }}
      >
        <h2>Add or change a function</h2>
        <Field label="Function key" name="key" required value={form.key} onInput={(key) => setForm({ ...form, key })} error={action.error} hint="e.g. estates.read" />
        <Field label="Function name" name="name" required value={form.name} onInput={(name) => setForm({ ...form, name })} error={action.error} />
        <Field label="Function description" name="description" multiline value={form.description} onInput={(description) => setForm({ ...form, description })} error={action.error} />
        <Field label="Event types" name="eventTypes" value={form.eventTypes} onInput={(eventTypes) => setForm({ ...form, eventTypes })} error={action.error} hint="Separated by commas; a function with event types is pushable." />
        <Field label="Filter fields" name="filterFields" value={form.filterFields} onInput={(filterFields) => setForm({ ...form, filterFields })} error={action.error} hint="Separated by commas, e.g. departmentId, estateStatus." />
        <ErrorMessage error={action.error} what="The function was not saved" />
        {saved ? <Notice>{saved}</Notice> : null}
        <button type="submit" disabled={action.busy}>
          Save function
        </button>
      </form>
      <h2>Catalog</h2>
      <Table
        label="Function catalog"
        rows={list.data?.data}
        error={list.error}
        rowKey={(f) => f.key}
        columns={[
          { header: 'Key', cell: (f) => <code>{f.key}</code> },
          { header: 'Name', cell: (f) => f.name },
          { header: 'Event types', cell: (f) => f.eventTypes.join(', ') || '–' },
          { header: 'Filter fields', cell: (f) => f.filterFields.join(', ') || '–' },
          {
            header: 'Actions',
            hidden: true,
            cell: (f) => (
              <button
                type="button"
                class="secondary"
                aria-label={`Edit ${f.key}`}
                onClick={() => setForm({ key: f.key, name: f.name, description: f.description, eventTypes: f.eventTypes.join(', '), filterFields: f.filterFields.join(', ') })}
              >
                Edit
              </button>
            ),
          },
        ]}
      />
    </Page>
  );
}

/** Activation in MSVPAR: "contact us and we will activate it in the partner test installation". */
export function TestActivation() {
  const partners = useLoad(() => ok(opsApi.GET('/v1/partners', { params: { query: { limit: 500 } } })), []);
  const [productId, setProductId] = useState('');
  const [done, setDone] = useState<string>();
  const action = useAction();
  return (
    <Page title="Activation in MSVPAR">
      <p>Activates a partner's product in the partner test installation MSVPAR (Next Partner) at its active version. The partner finds the product ID on its product page.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setDone(undefined);
          void action.run(async () => {
            const answer = await ok(opsApi.POST('/v1/ops/products/{productId}/activate-test', { params: { path: { productId: productId.trim() } } }));
            setDone(`${answer.name} (${answer.partner.name}) is active in MSVPAR at version ${answer.activation?.version ?? answer.activeVersion}.`);
          });
        }}
      >
        <Field label="Product ID" name="id" required value={productId} onInput={setProductId} error={action.error} hint="e.g. prd_…" />
        <ErrorMessage error={action.error} what="Not activated" />
        {done ? <Notice>{done}</Notice> : null}
        <button type="submit" disabled={action.busy}>
          Activate in MSVPAR
        </button>
      </form>
      {partners.data ? <p class="hint">{partners.data.data.length} partners are registered; see Partners.</p> : null}
    </Page>
  );
}

/** Dead letters: the list, replay the chosen ones. */
export function DeadLetters() {
  const list = useLoad(() => ok(opsApi.GET('/v1/ops/dead-letters', { params: { query: { limit: 500 } } })), []);
  const [chosen, setChosen] = useState<string[]>([]);
  const [done, setDone] = useState<string>();
  const action = useAction();
  return (
    <Page title="Dead letters">
      <p>Messages that failed their last retry. Replaying sends them again through the normal delivery path.</p>
      <ErrorMessage error={action.error} what="Nothing was replayed" />
      {done ? <Notice>{done}</Notice> : null}
      <Loaded items={list.data?.data} error={list.error} empty={<p>No dead letters.</p>}>
        {(messages) => (
          <>
            <Table
              label="Dead letters"
              rows={messages}
              rowKey={(m) => m.id}
              columns={[
                {
                  header: 'Chosen',
                  hidden: true,
                  cell: (m) => (
                    <Checkbox label={<span class="visually-hidden">Replay {m.eventId}</span>} checked={chosen.includes(m.id)} onChange={(on) => setChosen(on ? [...chosen, m.id] : chosen.filter((id) => id !== m.id))} />
                  ),
                },
                {
                  header: 'Event',
                  cell: (m) => (
                    <>
                      {m.eventType} <code>{m.eventId}</code>
                    </>
                  ),
                },
                { header: 'Subscription', cell: (m) => <code>{m.subscriptionId}</code> },
                { header: 'Installation', cell: (m) => m.installationId },
                { header: 'Attempts', cell: (m) => m.attempts },
                { header: 'Last answer', cell: (m) => m.lastStatusCode ?? m.lastError ?? '–' },
                { header: 'Dead since', cell: (m) => when(m.deadAt) },
              ]}
            />
            <button
              type="button"
              disabled={action.busy || chosen.length === 0}
              onClick={() =>
                void action.run(async () => {
                  const answer = await ok(opsApi.POST('/v1/ops/dead-letters/replay', { body: { messageIds: chosen } }));
                  setDone(`${answer.replayed} replayed${answer.skipped.length ? `, ${answer.skipped.length} skipped` : ''}.`);
                  setChosen([]);
                  list.reload();
                })
              }
            >
              Replay chosen
            </button>
          </>
        )}
      </Loaded>
    </Page>
  );
}

/** Subscription health: success rate, last success, failures, circuit; disable and enable. */
export function SubscriptionHealth() {
  const [failing, setFailing] = useState(false);
  const list = useLoad(() => ok(opsApi.GET('/v1/ops/subscriptions', { params: { query: { limit: 500, ...(failing ? { failing: 'true' as const } : {}) } } })), [failing]);
  const action = useAction();
  return (
    <Page title="Subscription health">
      <Checkbox label="Failing only" checked={failing} onChange={setFailing} />
      <ErrorMessage error={action.error} />
      <Table
        label="Subscription health"
        rows={list.data?.data}
        error={list.error}
        rowKey={(s) => s.id}
        columns={[
          { header: 'Receiver URL', cell: (s) => s.url },
          { header: 'Function', cell: (s) => s.functionKey },
          { header: 'State', cell: (s) => (s.status === 'disabled' ? `disabled: ${s.disabledReason ?? ''}` : s.status) },
          { header: 'Success rate', cell: (s) => (s.health.successRate === null ? '–' : `${Math.round(s.health.successRate * 1000) / 10} %`) },
          { header: 'Last success', cell: (s) => when(s.health.lastSuccessAt) },
          { header: 'Failures in a row', cell: (s) => s.health.consecutiveFailures },
          { header: 'Circuit', cell: (s) => s.health.circuit },
          {
            header: 'Actions',
            hidden: true,
            cell: (s) =>
              s.status === 'disabled' ? (
                <button type="button" class="secondary" aria-label={`Enable ${s.url}`} onClick={() => void action.run(async () => (await ok(opsApi.POST('/v1/ops/subscriptions/{subscriptionId}/enable', { params: { path: { subscriptionId: s.id } } })), list.reload()))}>
                  Enable
                </button>
              ) : (
                <button
                  type="button"
                  class="secondary"
                  aria-label={`Disable ${s.url}`}
                  onClick={() => void action.run(async () => (await ok(opsApi.POST('/v1/ops/subscriptions/{subscriptionId}/disable', { params: { path: { subscriptionId: s.id } }, body: { reason: 'from the portal, Subscription health' } })), list.reload()))}
                >
                  Disable
                </button>
              ),
          },
        ]}
      />
    </Page>
  );
}

type CleanUpRequest = ResponseOf<'/v1/ops/clean-up-requests', 'get'>['data'][number];

/** Clean-up requests: partners' requests to remove legacy grants their products cover; Mark done, optionally removing the covered grants. */
export function CleanUpRequests() {
  const [status, setStatus] = useState<'open' | 'done'>('open');
  const list = useLoad(() => ok(opsApi.GET('/v1/ops/clean-up-requests', { params: { query: { limit: 500, status } } })), [status]);
  const partners = useLoad(() => ok(opsApi.GET('/v1/partners', { params: { query: { limit: 500 } } })), []);
  const nameOf = (id: string) => partners.data?.data.find((p) => p.id === id)?.name ?? id;
  const [done, setDone] = useState<string>();
  const action = useAction();
  return (
    <Page title="Clean-up requests">
      <p>Partners ask for legacy grants (permissions without product) to be removed once a product covers them.</p>
      <fieldset>
        <legend>Show</legend>
        {(['open', 'done'] as const).map((value) => (
          <label key={value} class="checkbox">
            <input type="radio" name="status" value={value} checked={status === value} onChange={() => (setStatus(value), setDone(undefined))} /> {value === 'open' ? 'Open requests' : 'Done requests'}
          </label>
        ))}
      </fieldset>
      <ErrorMessage error={action.error} what="The request was not marked done" />
      {done ? <Notice>{done}</Notice> : null}
      <Loaded items={list.data?.data} error={list.error} empty={<p>{status === 'open' ? 'No open clean-up requests.' : 'No clean-up request is done yet.'}</p>}>
        {(requests) =>
          requests.map((request) => (
            <CleanUpRequestCard
              key={request.id}
              request={request}
              partner={nameOf(request.partnerId)}
              busy={action.busy}
              onResolve={(removeGrants) =>
                void action.run(async () => {
                  const answer = await ok(opsApi.POST('/v1/ops/clean-up-requests/{cleanUpRequestId}/resolve', { params: { path: { cleanUpRequestId: request.id } }, body: { removeGrants } }));
                  const removed = answer.removedGrantIds.length;
                  setDone(
                    `The request of ${nameOf(request.partnerId)} is done${removeGrants ? `: ${removed} grant${removed === 1 ? '' : 's'} removed, ${answer.keptGrantIds.length} kept (no product covers them now)` : ''}.`,
                  );
                  list.reload();
                })
              }
            />
          ))
        }
      </Loaded>
    </Page>
  );
}

function CleanUpRequestCard(props: { request: CleanUpRequest; partner: string; busy: boolean; onResolve: (removeGrants: boolean) => void }) {
  const { request } = props;
  const [removeGrants, setRemoveGrants] = useState(true);
  const titleId = `cleanup-${request.id}`;
  return (
    <section class="card" aria-labelledby={titleId}>
      <h2 id={titleId}>{props.partner}</h2>
      <p class="hint">
        Requested {when(request.createdAt)}
        {request.resolvedAt ? ` · done ${when(request.resolvedAt)}` : ''}
      </p>
      {request.note ? <p>Note: {request.note}</p> : null}
      <Table
        label={`Grants in the request of ${props.partner}`}
        rows={request.grants}
        rowKey={(grant) => grant.grantId}
        columns={[
          { header: 'InstallationID', cell: (grant) => grant.installationId },
          { header: 'Function', cell: (grant) => grant.functionKey },
          {
            header: 'Covered by',
            cell: (grant) =>
              grant.coveredBy.length
                ? grant.coveredBy.map((id, i) => (
                    <Fragment key={id}>
                      {i ? ', ' : ''}
                      <code>{id}</code>
                    </Fragment>
                  ))
                : 'no product',
          },
        ]}
      />
      {request.status === 'open' ? (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            props.onResolve(removeGrants);
          }}
        >
          <Checkbox label="Remove the grants a product still covers" checked={removeGrants} onChange={setRemoveGrants} />
          <button type="submit" aria-label={`Mark done: ${props.partner}`} disabled={props.busy}>
            Mark done
          </button>
        </form>
      ) : null}
    </section>
  );
}
