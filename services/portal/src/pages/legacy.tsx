import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { ok, partnerApi } from '../api';
import { ErrorMessage, Field, Notice, Page, Table, useAction, useLoad, when } from '../ui';

/** Legacy access – Permissions without product: each grant with the products covering it, and the clean-up request. */
export function LegacyAccess() {
  const grants = useLoad(() => ok(partnerApi.GET('/v1/legacy-grants', { params: { query: { limit: 500 } } })), []);
  const products = useLoad(() => ok(partnerApi.GET('/v1/products', { params: { query: { limit: 500 } } })), []);
  const [note, setNote] = useState('');
  const [sent, setSent] = useState<number>();
  const action = useAction();
  const productName = (id: string) => products.data?.data.find((p) => p.id === id)?.name ?? id;
  return (
    <Page title="Legacy access – Permissions without product">
      <p>Direct permissions from before products existed. Once a product covers one, ask us to remove it; until then access checks still honour it.</p>
      <Table
        label="Legacy access"
        rows={grants.data?.data}
        error={grants.error}
        rowKey={(g) => g.id}
        empty={<p>You have no legacy access.</p>}
        columns={[
          { header: 'Installation', cell: (g) => g.installationId },
          { header: 'Function', cell: (g) => g.functionKey },
          {
            header: 'Covered by',
            cell: (g) =>
              g.coveredBy.length === 0
                ? 'no product yet'
                : g.coveredBy.map((id, i) => (
                    <Fragment key={id}>
                      {i > 0 ? ', ' : ''}
                      <a href={`#/products/${id}`}>{productName(id)}</a>
                    </Fragment>
                  )),
          },
          { header: 'Granted', cell: (g) => when(g.createdAt) },
        ]}
      />
      <h2>Clean-up request</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const request = await ok(partnerApi.POST('/v1/legacy-grants/clean-up-request', { body: { note } }));
            setSent(request.grants.length);
          });
        }}
      >
        <Field label="Note for the operators (optional)" name="note" multiline value={note} onInput={setNote} error={action.error} />
        <ErrorMessage error={action.error} what="The request was not sent" />
        {sent !== undefined ? <Notice>Clean-up requested for {sent === 1 ? '1 permission' : `${sent} permissions`} that your products cover.</Notice> : null}
        <button type="submit" disabled={action.busy}>
          Request clean-up
        </button>
      </form>
    </Page>
  );
}
