import { Fragment, render, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { SIGNED_OUT_EVENT, credentials, ok, partnerApi, type Role } from './api';
import { Page, navigate, useLoad, useRoute } from './ui';
import { Apply } from './pages/apply';
import { SignIn } from './pages/sign-in';
import { Users } from './pages/users';
import { AccessAndSecurity, ChangeFunctions, EditProduct, NewProduct, ProductList, ProductPage } from './pages/products';
import { NewSubscription, SubscriptionPage } from './pages/subscriptions';
import { LegacyAccess } from './pages/legacy';
import { Notifications } from './pages/notifications';
import { Applications, DeadLetters, FunctionCatalog, Installations, OpsSignIn, Partners, SubscriptionHealth, TestActivation } from './pages/ops';

// Partner screens in the order the portal's FAQ walks through them.
const PARTNER_NAV: [string, string][] = [
  ['/users', 'Users'],
  ['/products', 'Product'],
  ['/legacy-access', 'Legacy access – Permissions without product'],
  ['/notifications', 'Notifications'],
];
const OPS_NAV: [string, string][] = [
  ['/ops/applications', 'Applications'],
  ['/ops/partners', 'Partners'],
  ['/ops/installations', 'Installations'],
  ['/ops/functions', 'Function catalog'],
  ['/ops/activation', 'Activation in MSVPAR'],
  ['/ops/dead-letters', 'Dead letters'],
  ['/ops/subscriptions', 'Subscription health'],
];

/** Which screen a route shows, and whose credential it needs. */
function screenFor(route: string): { role: Role | null; view: JSX.Element } {
  const parts = route.split('/').filter(Boolean);
  const [first, second, third, fourth] = parts;
  if (route === '/apply') return { role: null, view: <Apply /> };
  if (route === '/sign-in') return { role: null, view: <SignIn /> };
  if (route === '/ops/sign-in') return { role: null, view: <OpsSignIn /> };
  if (first === 'ops') {
    const views: Record<string, JSX.Element> = {
      applications: <Applications />,
      partners: <Partners />,
      installations: <Installations />,
      functions: <FunctionCatalog />,
      activation: <TestActivation />,
      'dead-letters': <DeadLetters />,
      subscriptions: <SubscriptionHealth />,
    };
    return { role: 'operator', view: views[second ?? 'applications'] ?? <NotFound /> };
  }
  if (first === 'users') return { role: 'partner', view: <Users /> };
  if (first === 'legacy-access') return { role: 'partner', view: <LegacyAccess /> };
  if (first === 'notifications') return { role: 'partner', view: <Notifications /> };
  if (first === 'subscriptions' && second) return { role: 'partner', view: <SubscriptionPage id={second} /> };
  if (first === 'products') {
    if (!second) return { role: 'partner', view: <ProductList /> };
    if (second === 'new') return { role: 'partner', view: <NewProduct /> };
    if (!third) return { role: 'partner', view: <ProductPage id={second} /> };
    if (third === 'edit') return { role: 'partner', view: <EditProduct id={second} /> };
    if (third === 'access') return { role: 'partner', view: <AccessAndSecurity id={second} /> };
    if (third === 'functions') return { role: 'partner', view: <ChangeFunctions id={second} /> };
    if (third === 'subscriptions' && fourth === 'new') return { role: 'partner', view: <NewSubscription productId={second} /> };
  }
  if (route === '/') return { role: null, view: <Home /> };
  return { role: null, view: <NotFound /> };
}

function Home() {
  return (
    <Page title="hubhook partner portal">
      <p>Build products from HUB API functions, set their credentials, and receive change events by push.</p>
      <ul class="choices">
        <li>
          <a class="button" href="#/sign-in">
            Sign in as a partner
          </a>
        </li>
        <li>
          <a class="button secondary" href="#/apply">
            Ny tilgang – apply for partner access
          </a>
        </li>
        <li>
          <a href="#/ops/sign-in">Operator sign-in</a>
        </li>
      </ul>
    </Page>
  );
}

function NotFound() {
  return (
    <Page title="Page not found">
      <p>
        <a href="#/">Go to the start page</a>
      </p>
    </Page>
  );
}

/** The navigation links, the current screen's marked for screen readers. */
function NavLinks(props: { links: [string, string][]; route: string }) {
  return (
    <>
      {props.links.map(([href, label]) => (
        <li key={href}>
          <a href={`#${href}`} aria-current={props.route === href || props.route.startsWith(`${href}/`) ? 'page' : undefined}>
            {label}
          </a>
        </li>
      ))}
    </>
  );
}

function PartnerHeader(props: { route: string }) {
  const me = useLoad(() => ok(partnerApi.GET('/v1/me')), []);
  return (
    <>
      <nav aria-label="Partner portal">
        <ul>
          <NavLinks links={PARTNER_NAV} route={props.route} />
        </ul>
      </nav>
      <div class="who">
        {me.data ? <span>{me.data.user?.email ?? me.data.partner.name} · {me.data.partner.name}</span> : null}
        <button
          type="button"
          class="secondary"
          onClick={() => {
            // Ending the session on the server first; whatever it answers, the tab forgets it.
            void partnerApi.POST('/v1/auth/sign-out').finally(() => {
              credentials.clear('partner');
              navigate('/sign-in');
            });
          }}
        >
          Sign out
        </button>
      </div>
    </>
  );
}

function OpsHeader(props: { route: string }) {
  return (
    <>
      <nav aria-label="Operator">
        <ul>
          <NavLinks links={OPS_NAV} route={props.route} />
          <li>
            <a href="/ops/board/">Queue board</a>
          </li>
        </ul>
      </nav>
      <div class="who">
        <span>Operator</span>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            credentials.clear('operator');
            navigate('/ops/sign-in');
          }}
        >
          Sign out
        </button>
      </div>
    </>
  );
}

function App() {
  const route = useRoute();
  const [, setSignedOut] = useState(0);
  useEffect(() => {
    const onSignedOut = () => setSignedOut((n) => n + 1);
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
  }, []);
  const screen = screenFor(route);
  const missing = screen.role !== null && !credentials.get(screen.role);
  useEffect(() => {
    if (missing) navigate(screen.role === 'operator' ? '/ops/sign-in' : '/sign-in');
  }, [missing, screen.role]);
  const area = route.startsWith('/ops') ? 'operator' : credentials.get('partner') && screen.role === 'partner' ? 'partner' : null;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header>
        <a class="brand" href="#/">
          hubhook
        </a>
        {area === 'partner' ? <PartnerHeader route={route} /> : area === 'operator' && credentials.get('operator') ? <OpsHeader route={route} /> : null}
      </header>
      <main id="main" tabIndex={-1}>
        {missing ? null : <Fragment key={route}>{screen.view}</Fragment>}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
