import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { seedFunctions } from '#shared/db/seeds/functions';
import { portalDirectory } from '#api/portal/static';
import { HUB_TOKEN, OPERATOR_TOKEN, startTestContext, type TestContext } from '../support/context.ts';
import { startReceiver, type TestReceiver } from '../support/receiver.ts';
import { hubEvent, publishEvents } from '../support/fixtures.ts';
import { startSmtpServer, type TestSmtpServer } from '../support/smtp.ts';
import { eventually } from '../support/poll.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/ops-board-screenshot.ts';

/**
 * The portal in headless Chromium, walked as a person would: by role and label, in the order
 * of the portal's FAQ. Every screen is screenshotted and checked with axe-core; the results
 * are written beside the screenshots (PORTAL_SCREENS, default /tmp/portal-screens).
 */
const SCREENS = process.env.PORTAL_SCREENS ?? '/tmp/portal-screens';
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const PORTAL_SOURCES = path.join(ROOT, 'services', 'portal');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The newest modification time under a folder (the generated types excluded: every build rewrites them). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.name === 'generated') continue;
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

/** Builds the portal unless dist/portal is newer than its sources (npm test has built it already). */
function ensureBuilt(): void {
  const index = path.join(portalDirectory(), 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs > newest(PORTAL_SOURCES)) return;
  execFileSync('npm', ['run', '--silent', 'build:portal'], { cwd: ROOT, stdio: 'inherit' });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}
const axeResults: Record<string, { violations: { id: string; impact: string | null; help: string; nodes: number }[] }> = {};

describe.runIf(existsSync(CHROMIUM))('the partner portal in headless Chromium', () => {
  let ctx: TestContext;
  let smtp: TestSmtpServer;
  let receiver: TestReceiver;
  let browser: Browser;
  let page: Page;
  const company = 'Fjord Proptech AS';
  const contactEmail = 'ola@fjord.test';
  let productId = '';

  /** Screenshots the screen and runs axe-core on it; serious or critical violations fail. */
  async function screen(name: string): Promise<void> {
    await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true });
    // Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') need not admit it.
    await page.evaluate(axeSource);
    const violations = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)")) as AxeViolation[];
    axeResults[name] = { violations: violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })) };
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), name).toEqual([]);
  }

  const go = (route: string) => page.goto(`${ctx.url}/portal/#${route}`);
  /** The partner session the tab holds, to check the API's side of what the screen did. */
  const partnerToken = async () => ((await page.evaluate("sessionStorage.getItem('hubhook.partnerSession')")) as string | null) ?? '';
  const heading = (name: string | RegExp) => page.getByRole('heading', { level: 1, name });
  const codeIn = (text: string) => /sign-in code is: (\d{8})/.exec(text)?.[1];
  /** The API's answers of 400 and above the page got, for a failing step's report. */
  const refusals: string[] = [];

  beforeAll(async () => {
    ensureBuilt();
    mkdirSync(SCREENS, { recursive: true });
    smtp = await startSmtpServer();
    // One retry a second later: a failing receiver's message is dead within seconds.
    ctx = await startTestContext({ workers: true, env: { SMTP_URL: smtp.url, MAIL_FROM: 'hubhook <no-reply@hubhook.test>', RETRY_SCHEDULE: '1s' } });
    await seedFunctions(ctx.db);
    receiver = await startReceiver('/hooks');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 90_000 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('response', (r) => {
      if (r.status() >= 400) refusals.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    });
  }, 240_000);

  // The steps build on each other, so the first failing one is the one to read: it leaves a
  // screenshot, the screen's text and what the API refused.
  afterEach(async ({ task }) => {
    if (task.result?.state !== 'fail' || !page) return;
    const name = `failed-${task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`;
    await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true }).catch(() => undefined);
    const text = await page.locator('body').innerText({ timeout: 5_000 }).catch((error: unknown) => String(error));
    console.warn(`"${task.name}" failed at ${page.url()} (${name}.png); the screen read:\n${text.slice(0, 2_000)}\nthe API's refusals so far: ${refusals.slice(-10).join('; ') || 'none'}`);
  });

  afterAll(async () => {
    writeFileSync(path.join(SCREENS, 'axe-results.json'), `${JSON.stringify(axeResults, null, 2)}\n`);
    const counted = Object.values(axeResults).flatMap((r) => r.violations);
    console.warn(`axe-core on ${Object.keys(axeResults).length} screens: ${counted.length} violations (${counted.map((v) => `${v.id}/${v.impact}`).join(', ') || 'none'}); results in ${SCREENS}/axe-results.json`);
    await browser?.close();
    await receiver?.close();
    await ctx?.stop();
    await smtp?.close();
  });

  it('serves the built portal at /portal with a strict content security policy', async () => {
    const res = await ctx.request('GET', '/portal/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    // Nothing from elsewhere: the page loads only its own bundle.
    expect(res.text).not.toMatch(/https?:\/\//);
    const assets = path.join(portalDirectory(), 'assets');
    const sizes = readdirSync(assets).map((file) => ({ file, bytes: statSync(path.join(assets, file)).size, gzip: gzipSync(readFileSync(path.join(assets, file))).length }));
    console.warn(`portal bundle: ${sizes.map((s) => `${s.file} ${(s.bytes / 1024).toFixed(1)} KiB (gzip ${(s.gzip / 1024).toFixed(1)} KiB)`).join(', ')}`);
  });

  it('Ny tilgang: a company applies, and a bad field is named next to it', async () => {
    await go('/');
    await heading('hubhook partner portal').waitFor();
    await screen('01-start');
    await page.getByRole('link', { name: 'Ny tilgang – apply for partner access' }).click();
    await heading('Ny tilgang').waitFor();
    await page.getByLabel('Company name').fill(company);
    await page.getByLabel('Organisation number').fill('!');
    await page.getByLabel('Contact person').fill('Ola Fjord');
    await page.getByLabel('Contact e-mail').fill(contactEmail);
    await page.getByLabel('What will you build?').fill('Open houses on a map');
    await page.getByRole('button', { name: 'Send application' }).click();
    await expect.poll(() => page.getByRole('alert').innerText()).toContain('please correct the fields marked below');
    const orgField = page.getByLabel('Organisation number');
    await expect.poll(() => orgField.getAttribute('aria-invalid')).toBe('true');
    // The error is tied to the field (aria-describedby), so a screen reader reads it with it.
    const describedBy = (await orgField.getAttribute('aria-describedby')) ?? '';
    expect(describedBy).toMatch(/-error/);
    await screen('02-apply-error');
    await orgField.fill('912345678');
    await page.getByRole('button', { name: 'Send application' }).click();
    await page.getByText('Your application is received').waitFor();
    await screen('03-apply-sent');
  });

  it('operator: signs in with the token, approves the application; partners, installations, catalog', async () => {
    await go('/ops/sign-in');
    await heading('Operator sign-in').waitFor();
    await page.getByLabel('Operator token').fill('not-the-token-000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await screen('04-ops-sign-in-error');
    await page.getByLabel('Operator token').fill(OPERATOR_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Applications').waitFor();
    // The token is in the tab's sessionStorage, never in the address.
    expect(page.url()).not.toContain(OPERATOR_TOKEN);
    await page.getByRole('heading', { name: company }).waitFor();
    await screen('05-ops-applications');
    await page.getByRole('button', { name: `Approve ${company}` }).click();
    await page.getByText(`${company} is approved`).waitFor();
    await smtp.waitFor(contactEmail, { subject: /approved/ });

    await page.getByRole('link', { name: 'Partners' }).click();
    await page.getByRole('cell', { name: company, exact: true }).waitFor();
    await screen('06-ops-partners');

    await page.getByRole('link', { name: 'Installations' }).click();
    await heading('Installations').waitFor();
    await page.getByLabel('InstallationID').fill('OSLO1');
    await page.getByLabel('Installation name').fill('Oslo Eiendom');
    await page.getByRole('button', { name: 'Add installation' }).click();
    await page.getByRole('cell', { name: 'OSLO1', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'MSVPAR', exact: true }).waitFor();
    await screen('07-ops-installations');

    await page.getByRole('link', { name: 'Function catalog' }).click();
    await heading('Function catalog').waitFor();
    await page.getByLabel('Function key').fill('showings.read');
    await page.getByLabel('Function name').fill('Showings read');
    await page.getByLabel('Event types').fill('showing.created, Not An Event');
    await page.getByRole('button', { name: 'Save function' }).click();
    // The API's detail for the bad event type, next to the field.
    await expect.poll(() => page.getByLabel('Event types').getAttribute('aria-invalid')).toBe('true');
    await screen('08-ops-function-error');
    await page.getByLabel('Event types').fill('showing.created, showing.updated');
    await page.getByRole('button', { name: 'Save function' }).click();
    await page.getByText('showings.read is saved (pushable).').waitFor();
    await page.getByRole('cell', { name: 'showings.read', exact: true }).waitFor();
    await screen('09-ops-functions');
    const board = page.getByRole('link', { name: 'Queue board' });
    expect(await board.getAttribute('href')).toBe('/ops/board/');
  });

  it('partner: signs in with the e-mailed code', async () => {
    await go('/');
    await page.getByRole('link', { name: 'Sign in as a partner' }).click();
    await heading('Sign in').waitFor();
    await page.getByLabel('E-mail').fill(contactEmail);
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByLabel('Code from the e-mail').waitFor();
    const mail = await smtp.waitFor(contactEmail, { subject: /sign-in code/ });
    await page.getByLabel('Code from the e-mail').fill('00000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await screen('10-sign-in-wrong-code');
    await page.getByLabel('Code from the e-mail').fill(codeIn(mail.text) ?? '');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Product').waitFor();
    await page.getByText('You have no products yet').waitFor();
    await screen('11-products-empty');
  });

  it('Users: add the user’s e-mail, Submit; the list of users', async () => {
    await page.getByRole('navigation', { name: 'Partner portal' }).getByRole('link', { name: 'Users' }).click();
    await heading('Users').waitFor();
    await page.getByLabel("The user's e-mail").fill('not an address');
    // The browser's own check (type=email) is skipped so that the API's message shows.
    await page.getByLabel("The user's e-mail").evaluate((input) => input.setAttribute('type', 'text'));
    await page.getByRole('button', { name: 'Submit' }).click();
    await expect.poll(() => page.getByLabel("The user's e-mail").getAttribute('aria-invalid')).toBe('true');
    await screen('12-users-error');
    await page.getByLabel("The user's e-mail").fill('kari@fjord.test');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByText('kari@fjord.test was added').waitFor();
    await page.getByRole('cell', { name: 'kari@fjord.test', exact: true }).waitFor();
    await page.getByRole('cell', { name: contactEmail, exact: true }).waitFor();
    expect(await page.getByLabel('API key for kari@fjord.test').inputValue()).toMatch(/^hh/);
    await screen('13-users');
    await smtp.waitFor('kari@fjord.test');
  });

  it('API keys: name one, Create, the key once; last used; Revoke with a confirm', async () => {
    await page.getByRole('navigation', { name: 'Partner portal' }).getByRole('link', { name: 'API keys' }).click();
    await heading('API keys').waitFor();
    // The key the contact person got when the partner was approved is listed already.
    await page.getByRole('table', { name: 'Your API keys' }).waitFor();
    // Only spaces: the browser lets it through, the API names the field.
    await page.getByLabel('Key name').fill('   ');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByLabel('Key name').getAttribute('aria-invalid')).toBe('true');
    await page.getByText('The key was not created').waitFor();
    await page.getByLabel('Key name').fill('Map server');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('The key Map server is created.').waitFor();
    const token = await page.getByLabel('API key Map server').inputValue();
    expect(token).toMatch(/^hh/);
    await page.getByText('Copy it now: it is shown only this once').waitFor();
    expect(await page.getByLabel('Key name').inputValue()).toBe('');
    await page.getByRole('row', { name: /^Map server .* never active/ }).waitFor();
    await screen('13b-api-keys-created');

    // The key works, and its use shows as last used.
    const me = await ctx.request('GET', '/v1/me', { token });
    expect(me.status, me.text).toBe(200);
    await eventually(
      async () => {
        await page.reload();
        await heading('API keys').waitFor();
        return (await page.getByRole('row', { name: /^Map server .* never / }).count()) === 0 && (await page.getByRole('row', { name: /^Map server .* active/ }).count()) === 1;
      },
      { what: 'the key shown as used', timeoutMs: 30_000 },
    );
    // Shown once: after a reload the secret is nowhere on the page.
    expect(await page.content()).not.toContain(token);

    await page.getByRole('button', { name: 'Revoke Map server' }).click();
    const confirm = page.getByRole('group', { name: 'Confirm revoking Map server' });
    await confirm.getByText('It stops working at once.').waitFor();
    await screen('13c-api-keys-confirm');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    expect(await (await ctx.request('GET', '/v1/me', { token })).status).toBe(200);
    await page.getByRole('button', { name: 'Revoke Map server' }).click();
    await confirm.getByRole('button', { name: 'Yes, revoke Map server' }).click();
    await page.getByRole('row', { name: /^Map server .* revoked / }).waitFor();
    expect(await page.getByRole('button', { name: 'Revoke Map server' }).count()).toBe(0);
    expect((await ctx.request('GET', '/v1/me', { token })).status).toBe(401);
    await screen('13d-api-keys-revoked');
  });

  it('Product: New product (name hint, type, description, Add); Edit; Access and security', async () => {
    await page.getByRole('link', { name: 'Product', exact: true }).click();
    await heading('Product').waitFor();
    await page.getByRole('link', { name: 'New product' }).click();
    await heading('New product').waitFor();
    await page.getByText('a generic name ("Map", "Visning") should carry your company name').waitFor();
    await page.getByLabel('Name').fill('Map');
    await page.getByLabel('Product with functions only (Rettighetsprodukt)').check();
    expect(await page.getByLabel('Order Integration Product (Ordreintegrasjon)').isChecked()).toBe(false);
    await page.getByLabel('Description').fill('Open houses on a map');
    await screen('14-new-product');
    await page.getByRole('button', { name: 'Add' }).click();
    await heading('Map').waitFor();
    // The generic name is saved, with the hint that it should carry the company name.
    await page.getByText('does not contain your company name').waitFor();
    productId = /#\/products\/(prd_[^/]+)$/.exec(page.url())?.[1] ?? '';
    expect(productId).toMatch(/^prd_/);
    await screen('15-product-preview');

    await page.getByRole('link', { name: 'Edit' }).click();
    await heading('Edit Map').waitFor();
    await page.getByLabel('Name').fill('Fjord Map');
    await page.getByLabel('Description').fill('Open houses and showings on a map');
    await screen('16-edit-product');
    await page.getByRole('button', { name: 'Save Changes' }).click();
    await heading('Fjord Map').waitFor();
    await page.getByText('Open houses and showings on a map').waitFor();

    await page.getByRole('link', { name: 'Access and security' }).click();
    await heading('Access and security – Fjord Map').waitFor();
    // In the test environment a new product is restricted to MSVPAR.
    expect(await page.getByLabel('Restricted to these InstallationIDs').isChecked()).toBe(true);
    expect(await page.getByLabel('InstallationIDs', { exact: true }).inputValue()).toBe('MSVPAR');
    await page.getByLabel('InstallationIDs', { exact: true }).fill('MSVPAR, not valid!');
    await page.getByRole('button', { name: 'Save Changes' }).click();
    await expect.poll(() => page.getByLabel('InstallationIDs', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await screen('17-access-error');
    await page.getByLabel('InstallationIDs', { exact: true }).fill('MSVPAR, OSLO1');
    await page.getByRole('button', { name: 'Save Changes' }).click();
    await page.getByText('only MSVPAR, OSLO1').waitFor();
  });

  it('credentials: set them, the key shown once, rotate, revoke', async () => {
    await page.getByRole('button', { name: 'Set credentials' }).click();
    const first = await page.getByLabel('Access key', { exact: true }).inputValue();
    expect(first).toMatch(/^hhp_/);
    await screen('18-credentials-set');
    await page.getByRole('button', { name: 'Rotate access key' }).click();
    await expect.poll(() => page.getByLabel('Access key', { exact: true }).inputValue()).not.toBe(first);
    const revokes = page.getByRole('button', { name: /^Revoke key / });
    await expect.poll(() => revokes.count()).toBe(2);
    await revokes.first().click();
    await expect.poll(() => page.getByRole('cell', { name: /^revoked / }).count()).toBe(1);
    await screen('19-credentials-rotated');
  });

  it('Change Functions: search, click a function, Require access to function, filters, Save Changes; Activate', async () => {
    await page.getByRole('link', { name: 'Change Functions' }).click();
    await heading('Change Functions – Fjord Map').waitFor();
    const listed = page.getByRole('list', { name: 'Functions' }).getByRole('button');
    await expect.poll(() => listed.count()).toBeGreaterThan(0);
    const all = await listed.count();
    await page.getByLabel('Search functions').fill('estate read');
    // Click in the narrowed list, not in the one the search is replacing.
    await expect.poll(() => listed.count()).toBeLessThan(all);
    await page.getByRole('button', { name: /Read estates/ }).click();
    await page.getByLabel('Require access to function').check();
    await page.getByLabel('estateStatus').fill('for_sale');
    await screen('20-change-functions');
    await page.getByRole('button', { name: 'Save Changes' }).click();
    await page.getByText('Saved in version 1.').waitFor();
    await page.getByRole('button', { name: /Read estates.*required/ }).waitFor();

    await page.getByRole('link', { name: 'Back to the product' }).click();
    await heading('Fjord Map').waitFor();
    await page.getByRole('button', { name: 'Activate version 1' }).click();
    await page.getByRole('cell', { name: /^active/ }).waitFor();
    await screen('21-versions-active');
  });

  it('operator: activation in MSVPAR for the partner', async () => {
    await go('/ops/activation');
    await heading('Activation in MSVPAR').waitFor();
    await page.getByLabel('Product ID').fill('prd_does_not_exist');
    await page.getByRole('button', { name: 'Activate in MSVPAR' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Product ID').fill(productId);
    await page.getByRole('button', { name: 'Activate in MSVPAR' }).click();
    await page.getByText(`Fjord Map (${company}) is active in MSVPAR at version 1.`).waitFor();
    await screen('22-ops-activation');
  });

  it('versions: which installations are on which, and a new version required and offered', async () => {
    // OSLO1's administrator activates the product (the HUB acts for installations).
    const activated = await ctx.request('POST', `/v1/installations/OSLO1/products/${productId}/activate`, { token: HUB_TOKEN });
    expect(activated.status, activated.text).toBe(200);
    await go(`/products/${productId}`);
    await heading('Fjord Map').waitFor();
    await page.getByRole('button', { name: 'Create new version' }).click();
    await page.getByRole('cell', { name: 'Version 2', exact: true }).waitFor();
    // Version 1: MSVPAR and OSLO1 are on it.
    await page.getByRole('row', { name: /Version 1 active.* 2$/ }).waitFor();
    await page.getByRole('link', { name: 'Change Functions' }).click();
    await heading('Change Functions – Fjord Map').waitFor();
    await page.getByLabel('Version to change').selectOption('1');
    await page.getByRole('button', { name: /Read contacts/ }).click();
    await page.getByLabel('Require access to function').check();
    await page.getByRole('button', { name: 'Save Changes' }).click();
    await page.getByText('A new version is required').waitFor();
    await screen('23-new-version-required');
    await page.getByRole('button', { name: 'Create new version' }).click();
    await expect.poll(() => page.getByLabel('Version to change').inputValue()).toBe('3');
    await page.getByRole('button', { name: /Read contacts/ }).click();
    await page.getByLabel('Require access to function').check();
    await page.getByRole('button', { name: 'Save Changes' }).click();
    await page.getByText('Saved in version 3.').waitFor();
  });

  it('push: Create subscription (URL, event types, description, Add): the verification result and the secret once', async () => {
    await go(`/products/${productId}`);
    await page.getByRole('link', { name: 'Create subscription' }).click();
    await heading('Create subscription – Fjord Map').waitFor();
    await page.getByLabel('Function').selectOption('estates.read');
    // A receiver that is not there: the API's reason shows next to the URL.
    const gone = await startReceiver('/gone');
    await gone.close();
    await page.getByLabel('Receiver URL').fill(gone.url);
    await page.getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => page.getByLabel('Receiver URL').getAttribute('aria-invalid'), { timeout: 20_000 }).toBe('true');
    await page.getByText('The subscription was not created').waitFor();
    await screen('24-subscription-unreachable');

    await page.getByLabel('Receiver URL').fill(receiver.url);
    await page.getByLabel('estate.deleted').uncheck();
    await page.getByLabel('Description').fill('Map updates');
    await page.getByLabel('Ordering').selectOption('entity');
    await screen('25-create-subscription');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByText(`Verified: ${receiver.url} answered the signed verification request`).waitFor();
    expect(await page.getByLabel('Signing secret').inputValue()).toMatch(/^whsec_/);
    expect(receiver.requests.some((r) => r.body.includes('subscription.verification'))).toBe(true);
    await screen('26-subscription-created');
    await page.getByRole('link', { name: 'Go to the delivery log' }).click();
    await heading('Subscription to estates.read').waitFor();
  });

  const publish = async (id: string) => {
    await publishEvents(ctx, [{ ...hubEvent('MSVPAR', 'estate.updated', { estateStatus: 'for_sale' }, 'est-42'), id }]);
  };
  /** Clicks Refresh until the delivery log has a row matching `name`. */
  const logRow = (name: RegExp) =>
    eventually(
      async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return (await page.getByRole('row', { name }).count()) > 0;
      }, { what: `a delivery log row ${name}`, timeoutMs: 30_000 },);

  it('delivery log: each message with its attempts; resend; stats', async () => {
    await publish('evt-portal-1');
    await logRow(/estate\.updated evt-portal-1 MSVPAR succeeded 1 200/);
    await page.getByRole('button', { name: 'Attempts of evt-portal-1' }).click();
    await page.getByRole('table', { name: 'Attempts of evt-portal-1' }).getByRole('cell', { name: 'success', exact: true }).waitFor();
    await screen('27-delivery-log');
    const before = receiver.requests.length;
    await page.getByRole('button', { name: 'Resend evt-portal-1' }).click();
    await receiver.waitFor(before + 1, 30_000);
    await logRow(/evt-portal-1 MSVPAR succeeded 2 200/);
    await page.reload();
    await heading('Subscription to estates.read').waitFor();
    await page.getByRole('region', { name: 'Delivery stats' }).getByText(/^[1-9]\d*$/).first().waitFor();
  });

  it('ordering: shown on the subscription, a waiting message named in the log, turned off in place', async () => {
    await page.getByRole('definition').filter({ hasText: 'by entity (one at a time, in publication order)' }).waitFor();
    expect(await page.getByLabel('Ordering').inputValue()).toBe('entity');
    // The entity's first message is held in flight by the receiver: the second waits for it.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    receiver.behave(async (req) => {
      if (req.body.includes('evt-portal-o1')) await held;
      return { status: 200, body: 'ok' };
    });
    const events = ['evt-portal-o1', 'evt-portal-o2'].map((id) => ({ id, installationId: 'MSVPAR', type: 'estate.updated', entityId: 'est-7', occurredAt: new Date().toISOString(), data: { estateStatus: 'for_sale' } }));
    expect((await ctx.request('POST', '/v1/hub/events', { token: HUB_TOKEN, body: { events } })).status).toBe(202);
    await logRow(/evt-portal-o2 MSVPAR pending waiting for msg_\w+ \(est-7\)/);
    await screen('27b-ordering-waiting');

    await page.getByLabel('Ordering').selectOption('none');
    await page.getByRole('button', { name: 'Save ordering' }).click();
    await page.getByText('Ordering off: messages waiting for an earlier one are sent now.').waitFor();
    await page.getByRole('definition').filter({ hasText: /^none$/ }).waitFor();
    await logRow(/evt-portal-o2 MSVPAR succeeded 1 200/);
    release();
    await logRow(/evt-portal-o1 MSVPAR succeeded 1 200/);
    await screen('27c-ordering-off');
  });

  it('pause and resume, rotate the secret, recover since a time', async () => {
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByText('Paused: messages wait').waitFor();
    await page.getByRole('definition').filter({ hasText: /^paused$/ }).waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByText('Resumed: waiting messages are delivered.').waitFor();
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    expect(await page.getByLabel('New signing secret').inputValue()).toMatch(/^whsec_/);
    await screen('28-subscription-actions');

    // A failing receiver: the message dies after its one retry; recover sends it again.
    receiver.behave(() => ({ status: 500, body: 'down' }));
    await publish('evt-portal-2');
    await logRow(/evt-portal-2 MSVPAR dead 2 500/);
    receiver.behave(() => ({ status: 200, body: 'ok' }));
    await page.getByLabel('Send again every failed or dead message since').fill('2020-01-01T00:00');
    await page.getByRole('button', { name: 'Recover' }).click();
    await page.getByText('1 failed or dead message is sent again.').waitFor();
    await logRow(/evt-portal-2 MSVPAR succeeded 3 200/);
    await screen('29-recovered');
  });

  it('operator: dead letters with replay, subscription health and disable; the partner is notified', async () => {
    receiver.behave(() => ({ status: 503, body: 'maintenance' }));
    await publish('evt-portal-3');
    await eventually(async () => (await ctx.db('messages').where({ status: 'dead' }).first()) ?? null, { what: 'a dead message', timeoutMs: 30_000 });
    receiver.behave(() => ({ status: 200, body: 'ok' }));
    await go('/ops/dead-letters');
    await heading('Dead letters').waitFor();
    await page.getByLabel('Replay evt-portal-3').check();
    await screen('30-ops-dead-letters');
    await page.getByRole('button', { name: 'Replay chosen' }).click();
    await page.getByText('1 replayed.').waitFor();
    await eventually(async () => receiver.requests.some((r) => r.body.includes('evt-portal-3') && r.receivedAt > 0) && (await ctx.db('messages').where({ status: 'succeeded', event_id: 'evt-portal-3' }).first()), { what: 'the replayed message delivered', timeoutMs: 30_000 });

    await page.getByRole('link', { name: 'Subscription health' }).click();
    await heading('Subscription health').waitFor();
    await page.getByRole('cell', { name: receiver.url, exact: true }).waitFor();
    await screen('31-ops-subscription-health');
    // Disabled twice (enabled between): two notices for the partner.
    for (let i = 0; i < 2; i++) {
      await page.getByRole('button', { name: `Disable ${receiver.url}` }).click();
      await page.getByRole('button', { name: `Enable ${receiver.url}` }).waitFor();
      if (i === 0) {
        await page.getByRole('button', { name: `Enable ${receiver.url}` }).click();
        await page.getByRole('button', { name: `Disable ${receiver.url}` }).waitFor();
      }
    }

    await go('/notifications');
    await heading('Notifications').waitFor();
    const nav = page.getByRole('navigation', { name: 'Partner portal' });
    await nav.getByRole('link', { name: 'Notifications 2 unread' }).waitFor();
    const notices = page.getByRole('list', { name: 'Notices' }).getByRole('listitem');
    await expect.poll(() => notices.count()).toBe(2);
    await notices.first().getByRole('heading', { name: 'Subscription disabled Unread' }).waitFor();
    await notices.first().getByText('disabled by an operator: from the portal, Subscription health').waitFor();
    const subscriptionId = /#\/subscriptions\/(sub_[^/]+)$/.exec((await notices.first().getByRole('link', { name: /^Open the delivery log of / }).getAttribute('href')) ?? '')?.[1];
    expect(subscriptionId).toMatch(/^sub_/);
    await screen('32-notifications');

    await notices.first().getByRole('button', { name: /^Mark as read: Subscription disabled/ }).click();
    await nav.getByRole('link', { name: 'Notifications 1 unread' }).waitFor();
    await expect.poll(() => page.getByRole('button', { name: /^Mark as read/ }).count()).toBe(1);
    await notices.first().getByText(/ · read /).waitFor();
    // The API agrees: one unread left.
    const unread = await ctx.request('GET', '/v1/notifications?unread=true', { token: await partnerToken() });
    expect(unread.body.data).toHaveLength(1);

    await page.getByRole('button', { name: 'Mark all as read' }).click();
    await expect.poll(() => page.getByRole('button', { name: /^Mark as read/ }).count()).toBe(0);
    await nav.getByRole('link', { name: 'Notifications', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Mark all as read' }).isDisabled()).toBe(true);
    await page.getByLabel('Unread only').check();
    await page.getByText('No unread notices.').waitFor();
    await screen('32b-notifications-read');

    await go('/ops/subscriptions');
    await page.getByRole('button', { name: `Enable ${receiver.url}` }).click();
    await page.getByRole('button', { name: `Disable ${receiver.url}` }).waitFor();
  });

  it('Legacy access – Permissions without product: what covers each grant, and the clean-up request', async () => {
    const partner = (await ctx.request('GET', '/v1/partners?limit=500', { token: OPERATOR_TOKEN })).body.data.find((p: { name: string }) => p.name === company);
    for (const functionKey of ['estates.read', 'contacts.write']) {
      const res = await ctx.request('POST', `/v1/partners/${partner.id}/legacy-grants`, { token: OPERATOR_TOKEN, body: { installationId: 'MSVPAR', functionKey } });
      expect(res.status, res.text).toBe(201);
    }
    await go('/products');
    await page.getByRole('link', { name: 'Legacy access – Permissions without product' }).click();
    await heading('Legacy access – Permissions without product').waitFor();
    await page.getByRole('row', { name: /MSVPAR estates\.read Fjord Map/ }).waitFor();
    await page.getByRole('row', { name: /MSVPAR contacts\.write no product yet/ }).waitFor();
    await page.getByLabel('Note for the operators (optional)').fill('Fjord Map covers estates.read now');
    await page.getByRole('button', { name: 'Request clean-up' }).click();
    await page.getByText('Clean-up requested for 1 permission that your products cover.').waitFor();
    await screen('33-legacy-access');
    await page.getByRole('button', { name: 'Request clean-up' }).click();
    await page.getByRole('alert').waitFor();

    // The operator marks it done and removes the grant that Fjord Map covers.
    await go('/ops/clean-up-requests');
    await heading('Clean-up requests').waitFor();
    const request = page.getByRole('region', { name: company });
    await request.getByRole('row', { name: /MSVPAR estates\.read/ }).waitFor();
    await request.getByText('Note: Fjord Map covers estates.read now').waitFor();
    expect(await request.getByLabel('Remove the grants a product still covers').isChecked()).toBe(true);
    await screen('33b-ops-clean-up-requests');
    await request.getByRole('button', { name: `Mark done: ${company}` }).click();
    await page.getByText(`The request of ${company} is done: 1 grant removed, 0 kept`).waitFor();
    await page.getByText('No open clean-up requests.').waitFor();
    await page.getByLabel('Done requests').check();
    await page.getByRole('region', { name: company }).getByText(/ · done /).waitFor();
    expect(await page.getByRole('button', { name: `Mark done: ${company}` }).count()).toBe(0);
    await go('/legacy-access');
    await page.getByRole('row', { name: /MSVPAR contacts\.write no product yet/ }).waitFor();
    expect(await page.getByRole('row', { name: /MSVPAR estates\.read/ }).count()).toBe(0);
  });

  it('the product list renders quickly on a fresh load (measured, not asserted), then sign out', async () => {
    await go('/products');
    await page.reload();
    await page.getByRole('link', { name: 'Fjord Map' }).waitFor();
    const ms = Math.round((await page.evaluate('performance.now()')) as number);
    console.warn(`time to first render of the product list (navigation start to the list shown): ${ms} ms`);
    await screen('34-products');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('Sign in').waitFor();
    await go('/products');
    await heading('Sign in').waitFor();
    await screen('35-signed-out');
  });

  it('sign-in with an address registered for several partners: choose which company', async () => {
    const shared = 'per@vik.test';
    for (const name of ['Vik Eiendom AS', 'Vik Data AS']) {
      const res = await ctx.request('POST', '/v1/partners', { token: OPERATOR_TOKEN, body: { name, contactEmail: shared } });
      expect(res.status, res.text).toBe(201);
    }
    await go('/sign-in');
    await heading('Sign in').waitFor();
    await page.getByLabel('E-mail').fill(shared);
    await page.getByRole('button', { name: 'Send code' }).click();
    const mail = await smtp.waitFor(shared, { subject: /sign-in code/ });
    await page.getByLabel('Code from the e-mail').fill(codeIn(mail.text) ?? '');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const choice = page.getByRole('group', { name: 'Which company do you sign in to?' });
    await choice.getByText(`${shared} is registered for 2 companies.`).waitFor();
    expect(await choice.getByRole('radio').count()).toBe(2);
    // The first is chosen and focused, so Enter or the button signs in straight away.
    expect(await choice.getByRole('radio').first().isChecked()).toBe(true);
    expect(await page.evaluate('document.activeElement?.getAttribute("type")')).toBe('radio');
    await choice.getByRole('radio', { name: 'Vik Eiendom AS' }).check();
    await page.getByRole('button', { name: 'Sign in to Vik Eiendom AS' }).waitFor();
    await screen('36-sign-in-choose-partner');
    await page.getByRole('button', { name: 'Sign in to Vik Eiendom AS' }).click();
    await heading('Product').waitFor();
    await page.getByText(`${shared} · Vik Eiendom AS`).waitFor();
    const me = await ctx.request('GET', '/v1/me', { token: await partnerToken() });
    expect(me.body.partner.name).toBe('Vik Eiendom AS');
    await screen('37-signed-in-chosen-partner');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading('Sign in').waitFor();
  });

  it('the keyboard: a skip link first, then the form field by field; Enter submits', async () => {
    await go('/apply');
    await heading('Ny tilgang').waitFor();
    // Backwards from the focused heading: the brand link, then the skip link, first on the page.
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    // From the heading, Tab walks the fields in order.
    await heading('Ny tilgang').focus();
    for (const value of ['Nordlys Data AS', '998877665', 'Kari Nordlys', 'kari@nordlys.test', 'Showings in the app']) {
      await page.keyboard.press('Tab');
      await page.keyboard.type(value);
    }
    expect(await page.getByLabel('What will you build?').inputValue()).toBe('Showings in the app');
    await page.getByLabel('Contact e-mail').focus();
    await page.keyboard.press('Enter');
    await page.getByText('Your application is received').waitFor();
  });
});
