import { ok, partnerApi } from '../api';
import { Loading, Page, useLoad, when } from '../ui';

/**
 * Notifications: what needs the partner's attention. The API has no partner notice list yet,
 * so this reads it from the subscriptions: every disabled one, with why.
 */
export function Notifications() {
  const notices = useLoad(async () => {
    const products = await ok(partnerApi.GET('/v1/products', { params: { query: { limit: 500 } } }));
    const lists = await Promise.all(
      products.data.map(async (product) => {
        const subs = await ok(partnerApi.GET('/v1/products/{productId}/subscriptions', { params: { path: { productId: product.id }, query: { limit: 500 } } }));
        return subs.data.filter((s) => s.status === 'disabled').map((s) => ({ product, subscription: s }));
      }),
    );
    return lists.flat();
  }, []);
  return (
    <Page title="Notifications">
      {notices.data ? (
        notices.data.length === 0 ? (
          <p>Nothing needs your attention.</p>
        ) : (
          <ul class="notices">
            {notices.data.map(({ product, subscription }) => (
              <li key={subscription.id}>
                <strong>Subscription disabled</strong> ({product.name}, {subscription.functionKey}): {subscription.disabledReason ?? 'no reason given'}. Last failure {when(subscription.lastFailureAt)}.{' '}
                <a href={`#/subscriptions/${subscription.id}`}>Open the delivery log of {subscription.url}</a>
              </li>
            ))}
          </ul>
        )
      ) : (
        <Loading error={notices.error} />
      )}
      <p class="hint">Upgrade notices go to the administrators of the installations that use your products.</p>
    </Page>
  );
}
