import { createHmac } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Config } from '#shared/config';
import type { Queues } from '#shared/queues/connection';
import { QUEUE_NAMES } from '#shared/queues/catalog';
import { RateLimitedError } from '#shared/errors';
import { safeEqual } from '#shared/tokens';
import { UnauthorizedError } from '#shared/errors';
import { countBadToken } from '../http/auth.ts';
import type { RateLimits } from '../http/rate-limits.ts';

/**
 * The queue dashboard at `/ops/board`: bull-board over every queue of the catalog, behind the
 * operator token. A browser cannot send a bearer header by itself, so `/ops/board/login` takes
 * the token in a form and sets a session cookie.
 *
 * The cookie never holds the token. It holds an expiry and an HMAC of it keyed by the operator
 * token (`v1.<expires>.<mac>`): any api instance can check it without shared session state, it
 * expires after SESSION_SECONDS, and changing OPERATOR_TOKEN voids every session at once.
 * It is HttpOnly (no script reads it), Secure in production, Path=/ops/board, and
 * SameSite=Strict: a browser does not send it on requests started by another site, so a
 * cross-site form or fetch against the board's actions (pause, retry, clean) arrives without a
 * session and is refused. That is the CSRF defence; there is no separate CSRF token.
 *
 * Failure policy: fail closed. Anything but a well-formed, unexpired, correctly signed cookie
 * is no session: pages redirect to the login form, the board's JSON API answers 401. A wrong
 * token at the login form counts with the api's wrong bearer tokens, per client address: past
 * the limit the form answers 429 with Retry-After.
 */

export const BOARD_PATH = '/ops/board';
const COOKIE = 'hubhook_board';
/** How long a dashboard login lasts. */
const SESSION_SECONDS = 12 * 60 * 60;

function mac(operatorToken: string, expires: number): string {
  return createHmac('sha256', operatorToken).update(`hubhook-board:v1:${expires}`).digest('base64url');
}

/** A session cookie value for the operator token, valid until `expires` (unix seconds). */
export function boardSessionValue(operatorToken: string, expires: number): string {
  return `v1.${expires}.${mac(operatorToken, expires)}`;
}

/** True when `value` is a session made with this operator token and not yet expired. */
export function isValidBoardSession(operatorToken: string, value: string | undefined, now = Date.now()): boolean {
  if (!value) return false;
  const match = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return false;
  const expires = Number(match[1]);
  if (expires * 1000 <= now) return false;
  return safeEqual(match[2]!, mac(operatorToken, expires));
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function cookieAttributes(config: Config, maxAge: number): string {
  return [`Path=${BOARD_PATH}`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAge}`, ...(config.env === 'production' ? ['Secure'] : [])].join('; ');
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>hubhook queues — sign in</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
form{background:#fff;border-radius:8px;padding:28px 32px;width:340px;box-shadow:0 8px 30px rgba(0,0,0,.3)}
h1{font-size:20px;margin:0 0 4px}p{color:#56607a;margin:0 0 18px;font-size:13px}
label{display:block;font-size:13px;font-weight:600;margin-bottom:4px}
input{width:100%;box-sizing:border-box;padding:8px 10px;border:1px solid #c5cbd6;border-radius:4px;font-size:15px}
button{margin-top:14px;width:100%;padding:9px;border:0;border-radius:4px;background:#1f5fbf;color:#fff;font-size:15px;cursor:pointer}
.error{color:#b3261e;background:#fbeaea;border-radius:4px;padding:6px 10px;margin-bottom:12px;font-size:13px}
</style></head>
<body>
<form method="post" action="${BOARD_PATH}/login">
<h1>hubhook queues</h1>
<p>Operators only. Sign in with the operator token.</p>
${error ? `<div class="error" role="alert">${escapeHtml(error)}</div>` : ''}
<label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</body></html>
`;
}

/** Mounts the login form and the guarded dashboard on `app` at BOARD_PATH. */
export function mountQueueBoard(app: Express, deps: { config: Config; queues: Queues; limits: RateLimits }): void {
  const { config } = deps;
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    // Every BullMQ queue: each delivery shard's deliver queue is its own entry (`shard-1/deliver`,
    // ...); bull-board tells queues apart by name, which the shards share, so theirs get a prefix.
    queues: QUEUE_NAMES.flatMap((name) => {
      const all = deps.queues.of(name);
      if (all.length === 1) return [new BullMQAdapter(all[0]!)];
      return all.map((queue, shard) => new BullMQAdapter(queue, { prefix: `shard-${shard}/`, displayName: `${name} (shard ${shard} of ${all.length}, ${queue.opts.prefix})` }));
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'hubhook queues' } },
  });

  const login = express.Router();
  const sendLogin = (res: Response, status: number, error?: string) => {
    res.set('cache-control', 'no-store');
    res.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'");
    res.status(status).type('html').send(loginPage(error));
  };
  login.get('/login', (_req, res) => sendLogin(res, 200));
  login.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const token = typeof req.body?.token === 'string' ? req.body.token : '';
    if (!token || !safeEqual(token, config.operatorToken)) {
      try {
        await countBadToken(req, deps);
      } catch (err) {
        if (!(err instanceof RateLimitedError)) throw err;
        req.log.warn('ops board sign-in refused: too many wrong tokens from this address');
        res.set('retry-after', String(err.retryAfterSeconds));
        sendLogin(res, 429, `Too many wrong tokens from this address. Try again in ${err.retryAfterSeconds} s.`);
        return;
      }
      req.log.warn('ops board sign-in refused: wrong token');
      sendLogin(res, 401, 'That is not the operator token.');
      return;
    }
    const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
    res.set('set-cookie', `${COOKIE}=${boardSessionValue(config.operatorToken, expires)}; ${cookieAttributes(config, SESSION_SECONDS)}`);
    res.redirect(303, `${BOARD_PATH}/`);
  });
  login.post('/logout', (_req, res) => {
    res.set('set-cookie', `${COOKIE}=; ${cookieAttributes(config, 0)}`);
    res.redirect(303, `${BOARD_PATH}/login`);
  });

  const requireSession = (req: Request, res: Response, next: NextFunction) => {
    if (isValidBoardSession(config.operatorToken, readCookie(req, COOKIE))) {
      next();
      return;
    }
    // The board's own JSON API gets an API answer; pages and assets go to the login form.
    if (req.path.startsWith('/api/')) {
      next(new UnauthorizedError('sign in at /ops/board/login'));
      return;
    }
    res.redirect(303, `${BOARD_PATH}/login`);
  };

  app.use(BOARD_PATH, login, requireSession, serverAdapter.getRouter());
}
