import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { credentials, ok, opsApi, type ResponseOf } from '../api';
import { Checkbox, ErrorMessage, Field, Loading, Notice, Page, navigate, useAction, useLoad, when } from '../ui';

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
      {list.data ? (
        list.data.data.length === 0 ? (
          <p>No {status} applications.</p>
        ) : (
          list.data.data.map((a) => (
            <Application
              key={a.id}
              application={a}
              onDecided={(text) => {
                setDone(text);
                list.reload();
              }}
            />
          ))
        )
      ) : (
        <Loading error={list.error} />
      )}
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
      {list.data ? (
        <table aria-label="Partners">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Contact person</th>
              <th scope="col">Partner ID</th>
              <th scope="col">Since</th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((p) => (
              <tr key={p.id}>
                <td>{p.name}</td>
                <td>{p.contactEmail}</td>
                <td>
                  <code>{p.id}</code>
                </td>
                <td>{when(p.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Loading error={list.error} />
      )}
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
      {list.data ? (
        <table aria-label="Installations">
          <thead>
            <tr>
              <th scope="col">InstallationID</th>
              <th scope="col">Name</th>
              <th scope="col">Since</th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((i) => (
              <tr key={i.installationId}>
                <td>{i.installationId}</td>
                <td>{i.name}</td>
                <td>{when(i.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Loading error={list.error} />
      )}
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
      {list.data ? (
        <table aria-label="Function catalog">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Event types</th>
              <th scope="col">Filter fields</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((f) => (
              <tr key={f.key}>
                <td>
                  <code>{f.key}</code>
                </td>
                <td>{f.name}</td>
                <td>{f.eventTypes.join(', ') || '–'}</td>
                <td>{f.filterFields.join(', ') || '–'}</td>
                <td>
                  <button
                    type="button"
                    class="secondary"
                    aria-label={`Edit ${f.key}`}
                    onClick={() => setForm({ key: f.key, name: f.name, description: f.description, eventTypes: f.eventTypes.join(', '), filterFields: f.filterFields.join(', ') })}
                  >
                    Edit
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Loading error={list.error} />
      )}
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
      {list.data ? (
        list.data.data.length === 0 ? (
          <p>No dead letters.</p>
        ) : (
          <>
            <table aria-label="Dead letters">
              <thead>
                <tr>
                  <th scope="col">
                    <span class="visually-hidden">Chosen</span>
                  </th>
                  <th scope="col">Event</th>
                  <th scope="col">Subscription</th>
                  <th scope="col">Installation</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Dead since</th>
                </tr>
              </thead>
              <tbody>
                {list.data.data.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <Checkbox label={<span class="visually-hidden">Replay {m.eventId}</span>} checked={chosen.includes(m.id)} onChange={(on) => setChosen(on ? [...chosen, m.id] : chosen.filter((id) => id !== m.id))} />
                    </td>
                    <td>
                      {m.eventType} <code>{m.eventId}</code>
                    </td>
                    <td>
                      <code>{m.subscriptionId}</code>
                    </td>
                    <td>{m.installationId}</td>
                    <td>{m.attempts}</td>
                    <td>{m.lastStatusCode ?? m.lastError ?? '–'}</td>
                    <td>{when(m.deadAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
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
        )
      ) : (
        <Loading error={list.error} />
      )}
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
      {list.data ? (
        <table aria-label="Subscription health">
          <thead>
            <tr>
              <th scope="col">Receiver URL</th>
              <th scope="col">Function</th>
              <th scope="col">State</th>
              <th scope="col">Success rate</th>
              <th scope="col">Last success</th>
              <th scope="col">Failures in a row</th>
              <th scope="col">Circuit</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.data.map((s) => (
              <tr key={s.id}>
                <td>{s.url}</td>
                <td>{s.functionKey}</td>
                <td>{s.status === 'disabled' ? `disabled: ${s.disabledReason ?? ''}` : s.status}</td>
                <td>{s.health.successRate === null ? '–' : `${Math.round(s.health.successRate * 1000) / 10} %`}</td>
                <td>{when(s.health.lastSuccessAt)}</td>
                <td>{s.health.consecutiveFailures}</td>
                <td>{s.health.circuit}</td>
                <td>
                  {s.status === 'disabled' ? (
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
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Loading error={list.error} />
      )}
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
      {list.data ? (
        list.data.data.length === 0 ? (
          <p>{status === 'open' ? 'No open clean-up requests.' : 'No clean-up request is done yet.'}</p>
        ) : (
          list.data.data.map((request) => (
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
        )
      ) : (
        <Loading error={list.error} />
      )}
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
      <table aria-label={`Grants in the request of ${props.partner}`}>
        <thead>
          <tr>
            <th scope="col">InstallationID</th>
            <th scope="col">Function</th>
            <th scope="col">Covered by</th>
          </tr>
        </thead>
        <tbody>
          {request.grants.map((grant) => (
            <tr key={grant.grantId}>
              <td>{grant.installationId}</td>
              <td>{grant.functionKey}</td>
              <td>{grant.coveredBy.length ? grant.coveredBy.map((id, i) => (
                <Fragment key={id}>
                  {i ? ', ' : ''}
                  <code>{id}</code>
                </Fragment>
              )) : 'no product'}</td>
            </tr>
          ))}
        </tbody>
      </table>
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
