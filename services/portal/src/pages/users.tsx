import { useState } from 'preact/hooks';
import { ok, partnerApi } from '../api';
import { ErrorMessage, Field, Notice, Page, ShownOnce, Table, useAction, useLoad, when } from '../ui';

/** Users: add a user by e-mail (Submit), and the list of the company's users. */
export function Users() {
  const users = useLoad(() => ok(partnerApi.GET('/v1/users', { params: { query: { limit: 500 } } })), []);
  const [email, setEmail] = useState('');
  const [added, setAdded] = useState<{ email: string; apiKey: string }>();
  const add = useAction();
  const remove = useAction();
  return (
    <Page title="Users">
      <h2>Add a user</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void add.run(async () => {
            const answer = await ok(partnerApi.POST('/v1/users', { body: { email } }));
            setAdded({ email: answer.email, apiKey: answer.apiKey });
            setEmail('');
            users.reload();
          });
        }}
      >
        <Field label="The user's e-mail" name="email" type="email" required value={email} onInput={setEmail} error={add.error} hint="They are e-mailed how to sign in." />
        <ErrorMessage error={add.error} what="The user was not added" />
        <button type="submit" disabled={add.busy}>
          Submit
        </button>
      </form>
      {added ? (
        <Notice>
          <p>{added.email} was added and e-mailed how to sign in.</p>
          <ShownOnce label={`API key for ${added.email}`} value={added.apiKey} />
        </Notice>
      ) : null}
      <h2>Users of your company</h2>
      <ErrorMessage error={remove.error} what="The user was not removed" />
      <Table
        label="Users"
        rows={users.data?.data}
        error={users.error}
        rowKey={(user) => user.id}
        columns={[
          { header: 'E-mail', cell: (user) => user.email },
          { header: 'Role', cell: (user) => (user.isContact ? 'Contact person' : 'User') },
          { header: 'Added', cell: (user) => when(user.createdAt) },
          {
            header: 'Actions',
            hidden: true,
            cell: (user) =>
              user.isContact ? null : (
                <button
                  type="button"
                  class="secondary"
                  aria-label={`Remove ${user.email}`}
                  onClick={() =>
                    void remove.run(async () => {
                      await ok(partnerApi.DELETE('/v1/users/{userId}', { params: { path: { userId: user.id } } }));
                      users.reload();
                    })
                  }
                >
                  Remove
                </button>
              ),
          },
        ]}
      />
    </Page>
  );
}
