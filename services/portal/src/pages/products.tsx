import { useState } from 'preact/hooks';
import { ok, partnerApi, type ResponseOf } from '../api';
import { Checkbox, ErrorMessage, Field, Loading, Notice, Page, SelectField, ShownOnce, Table, navigate, useAction, useLoad, when } from '../ui';
import { SubscriptionList } from './subscriptions';

/** A product as `GET /v1/products/{productId}` answers it. */
export type Product = ResponseOf<'/v1/products/{productId}', 'get'>;
/** A version of a product, with its functions. */
export type Version = Product['versions'][number];
/** A function of the catalog. */
export type CatalogFunction = ResponseOf<'/v1/functions', 'get'>['data'][number];

/** The FAQ's names of the two product types. */
export const PRODUCT_TYPES: [Product['type'], string][] = [
  ['order_integration', 'Order Integration Product (Ordreintegrasjon)'],
  ['rights', 'Product with functions only (Rettighetsprodukt)'],
];
const typeLabel = (type: Product['type']) => PRODUCT_TYPES.find(([value]) => value === type)?.[1] ?? type;

// Messages for the next screen (a product's name warnings after Add), read once.
let flash: string[] = [];

/** Product: the list of the company's products, and New product. */
export function ProductList() {
  const products = useLoad(() => ok(partnerApi.GET('/v1/products', { params: { query: { limit: 500 } } })), []);
  return (
    <Page title="Product">
      <p>
        <a class="button" href="#/products/new">
          New product
        </a>
      </p>
      <Table
        label="Your products"
        rows={products.data?.data}
        error={products.error}
        rowKey={(product) => product.id}
        empty={<p>You have no products yet. Click New product to make one.</p>}
        columns={[
          { header: 'Name', cell: (product) => <a href={`#/products/${product.id}`}>{product.name}</a> },
          { header: 'Type', cell: (product) => typeLabel(product.type) },
          { header: 'State', cell: (product) => product.status },
          { header: 'Active version', cell: (product) => product.activeVersion ?? '–' },
          { header: 'Available to', cell: (product) => availabilityText(product.availability) },
        ]}
      />
    </Page>
  );
}

function availabilityText(availability: Product['availability']): string {
  return availability.mode === 'all' ? 'all installations' : `only ${availability.installationIds.join(', ') || 'no installation'}`;
}

/** The product type as two radio buttons (a fieldset, so the group has its name). */
function TypeChoice(props: { value: Product['type']; onChange: (value: Product['type']) => void; error?: string }) {
  return (
    <fieldset class={props.error ? 'invalid' : undefined} aria-describedby={props.error ? 'type-error' : undefined}>
      <legend>Type</legend>
      {PRODUCT_TYPES.map(([value, label]) => (
        <label class="radio" key={value}>
          <input type="radio" name="type" value={value} checked={props.value === value} onChange={() => props.onChange(value)} /> {label}
        </label>
      ))}
      {props.error ? (
        <p class="field-error" id="type-error">
          {props.error}
        </p>
      ) : null}
    </fieldset>
  );
}

const NAME_HINT = 'Installations see products of many partners side by side: a generic name ("Map", "Visning") should carry your company name, e.g. "Fjord Map".';

/** New product: name, type, description, order URL; Add. */
export function NewProduct() {
  const [form, setForm] = useState({ name: '', type: 'rights' as Product['type'], description: '', orderUrl: '' });
  const action = useAction();
  return (
    <Page title="New product">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const created = await ok(
              partnerApi.POST('/v1/products', {
                body: { name: form.name, type: form.type, description: form.description, ...(form.orderUrl ? { orderUrl: form.orderUrl } : {}) },
              }),
            );
            flash = created.warnings.map((w) => w.message);
            navigate(`/products/${created.id}`);
          });
        }}
      >
        <Field label="Name" name="name" required value={form.name} onInput={(name) => setForm({ ...form, name })} error={action.error} hint={NAME_HINT} />
        <TypeChoice value={form.type} onChange={(type) => setForm({ ...form, type })} error={action.error?.field('type')} />
        <Field label="Description" name="description" multiline value={form.description} onInput={(description) => setForm({ ...form, description })} error={action.error} />
        <Field
          label="Order URL"
          name="orderUrl"
          type="url"
          value={form.orderUrl}
          onInput={(orderUrl) => setForm({ ...form, orderUrl })}
          error={action.error}
          hint="For an Order Integration Product: where an order from a sales object starts."
        />
        <p class="hint">In the test environment a new product is available to the partner test installation MSVPAR only; change it under Access and security.</p>
        <ErrorMessage error={action.error} what="The product was not added" />
        <button type="submit" disabled={action.busy}>
          Add
        </button>
        <a class="button secondary" href="#/products">
          Cancel
        </a>
      </form>
    </Page>
  );
}

function useProduct(id: string) {
  return useLoad(() => ok(partnerApi.GET('/v1/products/{productId}', { params: { path: { productId: id } } })), [id]);
}

/** The product preview: its settings, credentials, versions and subscriptions. */
export function ProductPage(props: { id: string }) {
  const product = useProduct(props.id);
  const [warnings] = useState(() => {
    const shown = flash;
    flash = [];
    return shown;
  });
  if (!product.data) return <Loading error={product.error} />;
  const p = product.data;
  return (
    <Page title={p.name}>
      {warnings.length > 0 ? (
        <Notice>
          <p>The product was added. A hint about its name:</p>
          <ul>
            {warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </Notice>
      ) : null}
      <p>
        <a href="#/products">Back to Product</a>
      </p>
      <dl class="facts">
        <dt>Type</dt>
        <dd>{typeLabel(p.type)}</dd>
        <dt>State</dt>
        <dd>{p.status}</dd>
        <dt>Description</dt>
        <dd>{p.description || '–'}</dd>
        <dt>Order URL</dt>
        <dd>{p.orderUrl ?? '–'}</dd>
        <dt>Available to</dt>
        <dd>{availabilityText(p.availability)}</dd>
        <dt>Active version</dt>
        <dd>{p.activeVersion ?? 'none yet'}</dd>
        <dt>Product ID</dt>
        <dd>
          <code>{p.id}</code>
        </dd>
      </dl>
      <nav aria-label="Product settings" class="actions">
        <a class="button" href={`#/products/${p.id}/edit`}>
          Edit
        </a>
        <a class="button" href={`#/products/${p.id}/access`}>
          Access and security
        </a>
        <a class="button" href={`#/products/${p.id}/functions`}>
          Change Functions
        </a>
      </nav>
      <Credentials product={p} reload={product.reload} />
      <Versions product={p} reload={product.reload} />
      <SubscriptionList product={p} />
    </Page>
  );
}

/** Product credentials: set them (the key is shown once), rotate with a second key, revoke. */
function Credentials(props: { product: Product; reload: () => void }) {
  const [issued, setIssued] = useState<{ login: string; accessKey: string }>();
  const action = useAction();
  const active = props.product.credentials.filter((c) => !c.revokedAt);
  const issue = () =>
    void action.run(async () => {
      const answer = await ok(partnerApi.POST('/v1/products/{productId}/credentials', { params: { path: { productId: props.product.id } } }));
      setIssued({ login: answer.login, accessKey: answer.accessKey });
      props.reload();
    });
  return (
    <section aria-labelledby="credentials-title">
      <h2 id="credentials-title">Credentials</h2>
      <p>
        The login and access key your integration sends to the HUB. Login: <code>{props.product.login ?? 'not set yet'}</code>
      </p>
      {issued ? (
        <Notice>
          <p>
            New access key for login <code>{issued.login}</code>.
          </p>
          <ShownOnce label="Access key" value={issued.accessKey} />
        </Notice>
      ) : null}
      <ErrorMessage error={action.error} what="The credentials were not changed" />
      <Table
        label="Access keys"
        rows={props.product.credentials}
        rowKey={(key) => key.keyId}
        empty={null}
        columns={[
          { header: 'Key', cell: (key) => <code>{key.keyId}</code> },
          { header: 'Created', cell: (key) => when(key.createdAt) },
          { header: 'State', cell: (key) => (key.revokedAt ? `revoked ${when(key.revokedAt)}` : 'active') },
          {
            header: 'Actions',
            hidden: true,
            cell: (key) =>
              key.revokedAt ? null : (
                <button
                  type="button"
                  class="secondary"
                  aria-label={`Revoke key ${key.keyId}`}
                  onClick={() =>
                    void action.run(async () => {
                      await ok(partnerApi.DELETE('/v1/products/{productId}/credentials/{keyId}', { params: { path: { productId: props.product.id, keyId: key.keyId } } }));
                      props.reload();
                    })
                  }
                >
                  Revoke
                </button>
              ),
          },
        ]}
      />
      {active.length === 0 ? (
        <button type="button" onClick={issue} disabled={action.busy}>
          Set credentials
        </button>
      ) : active.length === 1 ? (
        <>
          <button type="button" onClick={issue} disabled={action.busy}>
            Rotate access key
          </button>
          <p class="hint">Rotating adds a second key; revoke the old one once your integration uses the new one.</p>
        </>
      ) : (
        <p class="hint">Two keys are active: revoke one before adding another.</p>
      )}
    </section>
  );
}

/** Versions: each with its functions and how many installations are on it; create one, Activate. */
function Versions(props: { product: Product; reload: () => void }) {
  const action = useAction();
  const versions = [...props.product.versions].sort((a, b) => b.number - a.number);
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <ErrorMessage error={action.error} what="The version was not changed" />
      <Table
        label="Versions"
        rows={versions}
        rowKey={(version) => version.number}
        columns={[
          { header: 'Version', cell: (version) => `Version ${version.number}` },
          { header: 'State', cell: (version) => `${version.status}${version.activatedAt ? ` (activated ${when(version.activatedAt)})` : ''}` },
          { header: 'Functions', cell: (version) => (version.functions.length ? version.functions.map((f) => f.key).join(', ') : 'none') },
          { header: 'Installations on it', cell: (version) => version.activations },
          {
            header: 'Actions',
            hidden: true,
            cell: (version) =>
              version.status === 'draft' ? (
                <button
                  type="button"
                  aria-label={`Activate version ${version.number}`}
                  disabled={action.busy}
                  onClick={() =>
                    void action.run(async () => {
                      await ok(partnerApi.POST('/v1/products/{productId}/versions/{version}/activate', { params: { path: { productId: props.product.id, version: String(version.number) } } }));
                      props.reload();
                    })
                  }
                >
                  Activate
                </button>
              ) : null,
          },
        ]}
      />
      <button
        type="button"
        class="secondary"
        disabled={action.busy}
        onClick={() =>
          void action.run(async () => {
            await ok(partnerApi.POST('/v1/products/{productId}/versions', { params: { path: { productId: props.product.id } } }));
            props.reload();
          })
        }
      >
        Create new version
      </button>
      <p class="hint">Activating a version tells installations on an older one that an upgrade is available; their administrators confirm it.</p>
    </section>
  );
}

/** Edit: the fields that need no new version. */
export function EditProduct(props: { id: string }) {
  const product = useProduct(props.id);
  if (!product.data) return <Loading error={product.error} />;
  return <EditForm product={product.data} />;
}

function EditForm(props: { product: Product }) {
  const p = props.product;
  const [form, setForm] = useState({ name: p.name, type: p.type, description: p.description, orderUrl: p.orderUrl ?? '' });
  const action = useAction();
  return (
    <Page title={`Edit ${p.name}`}>
      <p>These fields can be changed at any time, without a new version.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const saved = await ok(
              partnerApi.PATCH('/v1/products/{productId}', {
                params: { path: { productId: p.id } },
                body: { name: form.name, type: form.type, description: form.description, orderUrl: form.orderUrl || null },
              }),
            );
            flash = saved.warnings.map((w) => w.message);
            navigate(`/products/${p.id}`);
          });
        }}
      >
        <Field label="Name" name="name" required value={form.name} onInput={(name) => setForm({ ...form, name })} error={action.error} hint={NAME_HINT} />
        <TypeChoice value={form.type} onChange={(type) => setForm({ ...form, type })} error={action.error?.field('type')} />
        <Field label="Description" name="description" multiline value={form.description} onInput={(description) => setForm({ ...form, description })} error={action.error} />
        <Field label="Order URL" name="orderUrl" type="url" value={form.orderUrl} onInput={(orderUrl) => setForm({ ...form, orderUrl })} error={action.error} />
        <ErrorMessage error={action.error} what="The changes were not saved" />
        <button type="submit" disabled={action.busy}>
          Save Changes
        </button>
        <a class="button secondary" href={`#/products/${p.id}`}>
          Cancel
        </a>
      </form>
    </Page>
  );
}

/** Access and security: available to all installations, or restricted to InstallationIDs. */
export function AccessAndSecurity(props: { id: string }) {
  const product = useProduct(props.id);
  if (!product.data) return <Loading error={product.error} />;
  return <AccessForm product={product.data} />;
}

function AccessForm(props: { product: Product }) {
  const p = props.product;
  const [mode, setMode] = useState(p.availability.mode);
  const [ids, setIds] = useState(p.availability.installationIds.join(', '));
  const action = useAction();
  return (
    <Page title={`Access and security – ${p.name}`}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run(async () => {
            const installationIds = ids.split(/[\s,]+/).filter(Boolean);
            await ok(partnerApi.PATCH('/v1/products/{productId}', { params: { path: { productId: p.id } }, body: { availability: { mode, installationIds: mode === 'all' ? [] : installationIds } } }));
            navigate(`/products/${p.id}`);
          });
        }}
      >
        <fieldset>
          <legend>Who may activate the product</legend>
          <label class="radio">
            <input type="radio" name="mode" value="all" checked={mode === 'all'} onChange={() => setMode('all')} /> Available to all installations
          </label>
          <label class="radio">
            <input type="radio" name="mode" value="restricted" checked={mode === 'restricted'} onChange={() => setMode('restricted')} /> Restricted to these InstallationIDs
          </label>
        </fieldset>
        {mode === 'restricted' ? (
          <Field
            label="InstallationIDs"
            name="availability.installationIds"
            value={ids}
            onInput={setIds}
            error={action.error}
            hint="Separated by commas or spaces, e.g. MSVPAR (the partner test installation, Next Partner)."
          />
        ) : null}
        <ErrorMessage error={action.error} what="The access was not changed" />
        <button type="submit" disabled={action.busy}>
          Save Changes
        </button>
        <a class="button secondary" href={`#/products/${p.id}`}>
          Cancel
        </a>
      </form>
    </Page>
  );
}

/** Change Functions: search the catalog, click a function, Require access to function, its filters, Save Changes. */
export function ChangeFunctions(props: { id: string }) {
  const product = useProduct(props.id);
  const [query, setQuery] = useState('');
  const catalog = useLoad(() => ok(partnerApi.GET('/v1/functions', { params: { query: { limit: 500, ...(query.trim() ? { q: query.trim() } : {}) } } })), [query]);
  // The function itself, not its key: narrowing the search past it keeps its form open.
  const [fn, setSelected] = useState<CatalogFunction>();
  const [chosenVersion, setChosenVersion] = useState<number>();
  if (!product.data) return <Loading error={product.error} />;
  const p = product.data;
  const version = p.versions.find((v) => v.number === (chosenVersion ?? p.latestVersion)) ?? p.versions[p.versions.length - 1];
  if (!version) return <Loading />;
  return (
    <Page title={`Change Functions – ${p.name}`}>
      <p>
        <a href={`#/products/${p.id}`}>Back to the product</a>
      </p>
      <SelectField
        label="Version to change"
        name="version"
        value={String(version.number)}
        onChange={(n) => setChosenVersion(Number(n))}
        options={[...p.versions].reverse().map((v): [string, string] => [String(v.number), `Version ${v.number} (${v.status}${v.activations ? `, on ${v.activations} installation${v.activations === 1 ? '' : 's'}` : ''})`])}
      />
      <div class="split">
        <div>
          <div class="field">
            <label for="function-search">Search functions</label>
            <input id="function-search" type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
          </div>
          {catalog.data ? (
            <ul class="function-list" aria-label="Functions">
              {catalog.data.data.map((f) => {
                const inVersion = version.functions.some((vf) => vf.key === f.key);
                return (
                  <li key={f.key}>
                    <button type="button" class={fn?.key === f.key ? 'selected' : 'secondary'} aria-pressed={fn?.key === f.key} onClick={() => setSelected(f)}>
                      {f.name} <code>{f.key}</code>
                      {inVersion ? ' – required' : ''}
                    </button>
                  </li>
                );
              })}
              {catalog.data.data.length === 0 ? <li>No function matches.</li> : null}
            </ul>
          ) : (
            <Loading error={catalog.error} />
          )}
        </div>
        <div>{fn ? <FunctionForm
              key={`${fn.key}-${version.number}`}
              product={p}
              version={version}
              fn={fn}
              reload={product.reload}
              onNewVersion={(n) => {
                setChosenVersion(n);
                product.reload();
              }}
            /> : <p>Click a function to see and change it.</p>}</div>
      </div>
    </Page>
  );
}

function FunctionForm(props: { product: Product; version: Version; fn: CatalogFunction; reload: () => void; onNewVersion: (n: number) => void }) {
  const current = props.version.functions.find((f) => f.key === props.fn.key);
  const [required, setRequired] = useState(Boolean(current));
  const [filters, setFilters] = useState<Record<string, string>>(() =>
    Object.fromEntries(props.fn.filterFields.map((field) => [field, (current?.filters[field] ?? []).join(', ')])),
  );
  const [saved, setSaved] = useState(false);
  const save = useAction();
  const newVersion = useAction();
  const needsVersion = save.error?.code === 'new_version_required';
  const path = { productId: props.product.id, version: String(props.version.number), functionKey: props.fn.key };
  return (
    <form
      aria-labelledby="function-title"
      onSubmit={(e) => {
        e.preventDefault();
        setSaved(false);
        void save.run(async () => {
          if (required) {
            const chosen = Object.fromEntries(
              Object.entries(filters)
                .map(([field, text]) => [field, text.split(',').map((v) => v.trim()).filter(Boolean)] as const)
                .filter(([, values]) => values.length > 0),
            );
            await ok(partnerApi.PUT('/v1/products/{productId}/versions/{version}/functions/{functionKey}', { params: { path }, body: { requireAccess: true, filters: chosen } }));
          } else if (current) {
            await ok(partnerApi.DELETE('/v1/products/{productId}/versions/{version}/functions/{functionKey}', { params: { path } }));
          }
          setSaved(true);
          props.reload();
        });
      }}
    >
      <h2 id="function-title">{props.fn.name}</h2>
      <p>
        <code>{props.fn.key}</code> {props.fn.description}
      </p>
      {props.fn.pushable ? <p>Pushable: sends {props.fn.eventTypes.join(', ')}.</p> : null}
      <Checkbox label="Require access to function" checked={required} onChange={setRequired} name="requireAccess" />
      {required && props.fn.filterFields.length > 0 ? (
        <fieldset>
          <legend>Filters (optional): only data matching these values</legend>
          {props.fn.filterFields.map((field) => (
            <Field
              key={field}
              label={field}
              name={`filters.${field}`}
              value={filters[field] ?? ''}
              onInput={(value) => setFilters({ ...filters, [field]: value })}
              error={save.error}
              hint="Values separated by commas; empty for no filter."
            />
          ))}
        </fieldset>
      ) : null}
      {needsVersion ? (
        <div class="error" role="alert">
          <p>A new version is required: version {props.version.number} is already activated in installations other than MSVPAR, so its functions cannot change. Create a new version, change it, and Activate it; installations are then offered the upgrade.</p>
          <button
            type="button"
            disabled={newVersion.busy}
            onClick={() =>
              void newVersion.run(async () => {
                const created = await ok(partnerApi.POST('/v1/products/{productId}/versions', { params: { path: { productId: props.product.id } } }));
                save.clear();
                props.onNewVersion(created.number);
              })
            }
          >
            Create new version
          </button>
          <ErrorMessage error={newVersion.error} />
        </div>
      ) : (
        <ErrorMessage error={save.error} what="The changes were not saved" />
      )}
      {saved ? <Notice>Saved in version {props.version.number}.</Notice> : null}
      <button type="submit" disabled={save.busy}>
        Save Changes
      </button>
    </form>
  );
}
