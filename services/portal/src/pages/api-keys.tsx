import { useState } from 'preact/hooks';
import { ok, partnerApi, type ResponseOf } from '../api';
import { ErrorMessage, Field, Notice, Page, ShownOnce, Table, useAction, useLoad, when } from '../ui';

type ApiKey = ResponseOf<'/v1/api-keys', 'get'>['data'][number];

/** API keys: the signed-in person's own standing keys (for a server); name one, Create, the key once; Revoke with a confirm. */
export function ApiKeys() {
  const keys = useLoad(() => ok(partnerApi.GET('/v1/api-keys', { params: { query: { limit: 500 } } })), []);
  const [name, setName] = useState('');
  const [minted, setMinted] = useState<{ name: string; token: string }>();
  const [confirming, setConfirming] = useState<string>();
  const create = useAction();
  const revoke = useAction();
  return (
    <Page title="API keys">
      <p>Your own API keys, for a server or script that calls the HUB API as you. They act with your access to your company; revoke one as soon as it is no longer used.</p>
      <h2>Create an API key</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void create.run(async () => {
            const answer = await ok(partnerApi.POST('/v1/api-keys', { body: { name } }));
            setMinted({ name: answer.apiKey.name ?? name, token: answer.token });
            setName('');
            keys.reload();
          });
        }}
      >
        <Field label="Key name" name="name" required value={name} onInput={setName} error={create.error} hint='What the key is for, e.g. "Map server, production".' />
        <ErrorMessage error={create.error} what="The key was not created" />
        <button type="submit" disabled={create.busy}>
          Create
        </button>
      </form>
      {minted ? (
        <Notice>
          <p>The key {minted.name} is created.</p>
          <ShownOnce label={`API key ${minted.name}`} value={minted.token} />
        </Notice>
      ) : null}
      <h2>Your keys</h2>
      <ErrorMessage error={revoke.error} what="The key was not revoked" />
      <Table
        label="Your API keys"
        rows={keys.data?.data}
        error={keys.error}
        rowKey={(key) => key.id}
        empty={<p>You have no API keys yet.</p>}
        columns={[
          { header: 'Name', cell: (key) => key.name ?? key.id },
          { header: 'Created', cell: (key) => when(key.createdAt) },
          { header: 'Last used', cell: (key) => (key.lastUsedAt ? when(key.lastUsedAt) : 'never') },
          { header: 'State', cell: (key) => (key.revokedAt ? `revoked ${when(key.revokedAt)}` : 'active') },
          {
            header: 'Actions',
            hidden: true,
            cell: (key) => (
              <RevokeKey
                apiKey={key}
                confirming={confirming === key.id}
                busy={revoke.busy}
                onAsk={() => setConfirming(key.id)}
                onCancel={() => setConfirming(undefined)}
                onRevoke={() =>
                  void revoke.run(async () => {
                    await ok(partnerApi.DELETE('/v1/api-keys/{keyId}', { params: { path: { keyId: key.id } } }));
                    setConfirming(undefined);
                    keys.reload();
                  })
                }
              />
            ),
          },
        ]}
      />
    </Page>
  );
}

/** A key's Revoke button, and the confirmation it asks for first. */
function RevokeKey(props: { apiKey: ApiKey; confirming: boolean; busy: boolean; onAsk: () => void; onCancel: () => void; onRevoke: () => void }) {
  const { apiKey } = props;
  const label = apiKey.name ?? apiKey.id;
  if (apiKey.revokedAt) return null;
  return props.confirming ? (
    <div role="group" aria-label={`Confirm revoking ${label}`}>
      <p>It stops working at once.</p>
      <button type="button" class="danger" disabled={props.busy} onClick={props.onRevoke}>
        Yes, revoke {label}
      </button>{' '}
      <button type="button" class="secondary" onClick={props.onCancel}>
        Cancel
      </button>
    </div>
  ) : (
    <button type="button" class="secondary" aria-label={`Revoke ${label}`} onClick={props.onAsk}>
      Revoke
    </button>
  );
}
