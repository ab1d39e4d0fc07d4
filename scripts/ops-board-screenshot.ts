/**
 * Opens the queue dashboard in headless Chromium (Debian's `chromium`, driven by
 * playwright-core: no browser download) and takes two screenshots: without a session (it must
 * show the login form, not the queues) and after signing in with the operator token (the
 * queue list with counts).
 *
 *   HUBHOOK_URL=http://localhost:3000 OPERATOR_TOKEN=... \
 *     node --conditions=source --import tsx scripts/ops-board-screenshot.ts [outDir]
 *
 * The token defaults to the one `npm start` keeps in .data/dev-secrets.json. Screenshots go
 * to outDir (default /tmp): ops-board-login.png, ops-board-queues.png.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless in a container: no sandbox (no user namespaces), no GPU, and nothing phoning home. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What the browser saw, for a test to check and a person to read. */
export interface BoardScreenshots {
  /** Where the first visit, without a session, ended up. */
  loginUrl: string;
  /** Visible text of that page. */
  loginText: string;
  /** Whether it showed a password field for the token. */
  loginHasTokenField: boolean;
  /** Where signing in led. */
  boardUrl: string;
  /** Visible text of the board after signing in. */
  boardText: string;
  files: { login: string; board: string };
}

/** Signs in to /ops/board at `url` with `token` in headless Chromium, screenshotting before and after. */
export async function screenshotBoard(options: { url: string; token: string; outDir?: string; queueNames: string[] }): Promise<BoardScreenshots> {
  const outDir = options.outDir ?? '/tmp';
  const files = { login: path.join(outDir, 'ops-board-login.png'), board: path.join(outDir, 'ops-board-queues.png') };
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 90_000 });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);

    await page.goto(`${options.url}/ops/board`);
    await page.waitForSelector('input[name="token"]');
    const loginUrl = page.url();
    const loginText = await page.innerText('body');
    const loginHasTokenField = await page.isVisible('input[type="password"][name="token"]');
    await page.screenshot({ path: files.login, fullPage: true });

    await page.fill('input[name="token"]', options.token);
    await Promise.all([page.waitForURL(/\/ops\/board\/?$/), page.click('button[type="submit"]')]);
    // bull-board renders in the browser: wait until every queue's card is on the page.
    for (const name of options.queueNames) {
      await page.getByText(name, { exact: true }).first().waitFor();
    }
    const boardUrl = page.url();
    const boardText = await page.innerText('body');
    await page.screenshot({ path: files.board, fullPage: true });
    return { loginUrl, loginText, loginHasTokenField, boardUrl, boardText, files };
  } finally {
    await browser.close();
  }
}

function devToken(): string | undefined {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '.data', 'dev-secrets.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { OPERATOR_TOKEN?: string }).OPERATOR_TOKEN : undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const token = process.env.OPERATOR_TOKEN ?? devToken();
  if (!token) {
    console.error('no operator token: set OPERATOR_TOKEN');
    process.exit(2);
  }
  if (!existsSync(CHROMIUM)) {
    console.error(`no browser at ${CHROMIUM}: apt-get install chromium`);
    process.exit(2);
  }
  const { QUEUE_NAMES } = await import('#shared/queues/catalog');
  const seen = await screenshotBoard({
    url: process.env.HUBHOOK_URL ?? 'http://localhost:3000',
    token,
    outDir: process.argv[2],
    queueNames: QUEUE_NAMES,
  });
  console.log(`without a session: ${seen.loginUrl} (token field: ${seen.loginHasTokenField ? 'yes' : 'no'}) -> ${seen.files.login}`);
  console.log(`signed in:         ${seen.boardUrl} -> ${seen.files.board}`);
}
