import { useState } from 'preact/hooks';
import { ok, partnerApi, type ResponseOf } from '../api';
import { Checkbox, ErrorMessage, Loading, Page, useAction, useLoad, when } from '../ui';

type Notice = ResponseOf<'/v1/notifications', 'get'>['data'][number];

/** Fired after notices are marked read, so the navigation's unread count follows. */
export const NOTICES_CHANGED_EVENT = 'hubhook:notices-changed';

// The kinds the API writes today; an unknown kind still shows, under its own name.
const KIND_TITLE: Record<string, string> = {
  subscription_disabled: 'Subscription disabled',
  upgrade_available: 'Upgrade available',
};

const PAGE_SIZE = 50;

/** The unread count for the navigation: one small page, "50+" beyond it. */
export async function unreadNotices(): Promise<string> {
  const page = await ok(partnerApi.GET('/v1/notifications', { params: { query: { unread: 'true', limit: PAGE_SIZE } } }));
  return page.nextCursor ? `${PAGE_SIZE}+` : String(page.data.length);
}

/** Notifications: the partner's notices (a subscription disabled and why, upgrade notices), newest first; mark them read. */
export function Notifications() {
  const [unreadOnly, setUnreadOnly] = useState(false);
  // Pages already shown beyond the first, by "Show older notices".
  const [cursors, setCursors] = useState<string[]>([]);
  const notices = useLoad(async () => {
    const pages: Notice[] = [];
    let nextCursor: string | null = null;
    for (const cursor of [undefined, ...cursors]) {
      const page = await ok(partnerApi.GET('/v1/notifications', { params: { query: { limit: PAGE_SIZE, cursor, unread: unreadOnly ? 'true' : undefined } } }));
      pages.push(...page.data);
      nextCursor = page.nextCursor;
    }
    return { data: pages, nextCursor };
  }, [unreadOnly, cursors.join()]);
  const action = useAction();
  const changed = () => {
    notices.reload();
    window.dispatchEvent(new CustomEvent(NOTICES_CHANGED_EVENT));
  };
  const unread = notices.data?.data.filter((n) => !n.readAt).length ?? 0;
  return (
    <Page title="Notifications">
      <p>What needs your attention: subscriptions that were disabled and why, and upgrade notices. Newest first.</p>
      <div class="toolbar">
        <Checkbox
          label="Unread only"
          checked={unreadOnly}
          onChange={(checked) => {
            setCursors([]);
            setUnreadOnly(checked);
          }}
        />
        <button
          type="button"
          class="secondary"
          disabled={action.busy || unread === 0}
          onClick={() =>
            void action.run(async () => {
              await ok(partnerApi.POST('/v1/notifications/read-all'));
              changed();
            })
          }
        >
          Mark all as read
        </button>
      </div>
      <ErrorMessage error={action.error} what="Not marked as read" />
      {notices.data ? (
        notices.data.data.length === 0 ? (
          <p>{unreadOnly ? 'No unread notices.' : 'Nothing needs your attention.'}</p>
        ) : (
          <ul class="notices" aria-label="Notices">
            {notices.data.data.map((notice) => (
              <NoticeItem key={notice.id} notice={notice} busy={action.busy} onRead={() => void action.run(async () => {
                await ok(partnerApi.POST('/v1/notifications/{notificationId}/read', { params: { path: { notificationId: notice.id } } }));
                changed();
              })} />
            ))}
          </ul>
        )
      ) : (
        <Loading error={notices.error} />
      )}
      {notices.data?.nextCursor ? (
        <button type="button" class="secondary" onClick={() => setCursors([...cursors, notices.data!.nextCursor!])}>
          Show older notices
        </button>
      ) : null}
    </Page>
  );
}

function NoticeItem(props: { notice: Notice; busy: boolean; onRead: () => void }) {
  const { notice } = props;
  const title = KIND_TITLE[notice.kind] ?? notice.kind.replace(/_/g, ' ');
  const subscriptionId = typeof notice.data.subscriptionId === 'string' ? notice.data.subscriptionId : null;
  const titleId = `notice-${notice.id}`;
  return (
    <li class={notice.readAt ? 'read' : 'unread'} aria-labelledby={titleId}>
      <h2 id={titleId} class="notice-title">
        {title}
        {notice.readAt ? null : <span class="badge">Unread</span>}
      </h2>
      <p>{notice.message}</p>
      <p class="hint">
        {when(notice.createdAt)}
        {notice.readAt ? ` · read ${when(notice.readAt)}` : ''}
      </p>
      <p>
        {subscriptionId ? <a href={`#/subscriptions/${subscriptionId}`}>Open the delivery log of {subscriptionId}</a> : null}
        {notice.productId && !subscriptionId ? <a href={`#/products/${notice.productId}`}>Open the product</a> : null}
        {notice.readAt ? null : (
          <button type="button" class="secondary" aria-label={`Mark as read: ${title}, ${when(notice.createdAt)}`} disabled={props.busy} onClick={props.onRead}>
            Mark as read
          </button>
        )}
      </p>
    </li>
  );
}
