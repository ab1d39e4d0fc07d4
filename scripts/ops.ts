/**
 * `npm run ops -- <command>`: the operators' command line over the ops API (HTTP only, so it
 * works against any running hubhook). HUBHOOK_URL (default http://localhost:3000) names the
 * api; the token is OPERATOR_TOKEN, else the one `npm start` keeps in .data/dev-secrets.json.
 *
 * Failure policy: a 503 or no answer is tried again twice (got, with backoff; each try times out
 * after 10 s); any other answer but the expected one prints the API's error message (code and
 * message, and the fields it names) on stderr and exits 1; usage mistakes exit 2.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import got, { RequestError, type Method, type Response } from 'got';

const USAGE = `usage: npm run ops -- <command> [options]

  queues                                     job counts per queue and state
  pause <queue>                              stop workers taking jobs from a queue
  resume <queue>                             let them take jobs again
  dead-letters [--subscription <id>] [--since <iso>] [--limit <n>] [--cursor <c>]
                                             messages that failed their last retry
  replay <messageId...>                      deliver these dead messages again
  replay --subscription <id> --since <iso>   ... every dead message of a subscription since then
  subscriptions [--status <s>] [--failing]   subscriptions with their delivery health (--state: the old name)
  disable <subscriptionId> [--reason <text>] stop delivering to a subscription
  enable <subscriptionId>                    deliver to it again

environment: HUBHOOK_URL (default http://localhost:3000), OPERATOR_TOKEN (default: .data/dev-secrets.json)`;

/** Where runOps talks and writes. */
export interface OpsOptions {
  url: string;
  token: string;
  /** One line of output to the person. */
  out: (line: string) => void;
  /** One line of error output. */
  err: (line: string) => void;
  /** One try's time limit; default 10 s. */
  timeoutMs?: number;
  /** Tries after the first on a 503 or no answer; default 2. */
  retries?: number;
  /** Longest pause between tries; default 2 s. */
  maxRetryDelayMs?: number;
}

/** A failure to report: the message is printed as is; `exitCode` 2 is a usage mistake. */
class OpsError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

type Row = Record<string, unknown>;

/** A plain text table: a header row, then one row per item; columns as wide as their widest cell. */
export function formatTable(rows: Row[], columns: string[]): string[] {
  const cell = (value: unknown) => (value === null || value === undefined ? '-' : String(value));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))];
}

/**
 * One request to the ops API through got: each try times out after `timeoutMs`, and a 503 (a
 * restarting or not-yet-ready api) or no answer at all is tried again, twice, backing off.
 * Every ops command is safe to repeat (pause, resume, replay of what is still dead,
 * disable, enable), so POSTs are retried too.
 */
async function call(options: OpsOptions, method: Method, apiPath: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  let response: Response<string>;
  try {
    response = await got(new URL(apiPath, options.url), {
      method,
      headers: { authorization: `Bearer ${options.token}` },
      ...(body === undefined ? {} : { json: body }),
      throwHttpErrors: false,
      followRedirect: false,
      timeout: { request: options.timeoutMs ?? 10_000 },
      retry: {
        limit: options.retries ?? 2,
        methods: ['GET', 'POST', 'PUT', 'DELETE'],
        statusCodes: [503],
        backoffLimit: options.maxRetryDelayMs ?? 2_000,
      },
    });
  } catch (err) {
    if (err instanceof RequestError) throw new OpsError(`cannot reach ${options.url}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '));
    throw err;
  }
  const text = response.body;
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (response.statusCode < 200 || response.statusCode >= 300) {
    const error = (parsed as { error?: { code?: string; message?: string; details?: { path: string; message: string }[] } })?.error;
    const details = (error?.details ?? []).map((d) => `\n  ${d.path}: ${d.message}`).join('');
    throw new OpsError(
      error ? `${response.statusCode} ${error.code}: ${error.message}${details}` : `${response.statusCode} ${response.statusMessage ?? ''}: ${text.slice(0, 200)}`,
    );
  }
  return { status: response.statusCode, body: parsed };
}

const query = (params: Record<string, string | undefined>) => {
  const search = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
  const text = search.toString();
  return text ? `?${text}` : '';
};

const pct = (rate: unknown) => (typeof rate === 'number' ? `${(rate * 100).toFixed(1)}%` : '-');

type Command = (args: string[], options: OpsOptions) => Promise<void>;

function parse(args: string[], spec: Record<string, { type: 'string' | 'boolean' }>, positionals: { min: number; max?: number; name: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: spec, allowPositionals: true, strict: true });
  } catch (err) {
    throw new OpsError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  const count = parsed.positionals.length;
  if (count < positionals.min || (positionals.max !== undefined && count > positionals.max)) {
    throw new OpsError(`expected ${positionals.name}\n\n${USAGE}`, 2);
  }
  return parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
}

const str = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);

const commands: Record<string, Command> = {
  async queues(args, options) {
    parse(args, {}, { min: 0, max: 0, name: 'no arguments' });
    const { body } = await call(options, 'GET', '/v1/ops/queues');
    const rows = (body as { data: Row[] }).data.map((q) => ({ ...q, paused: q.paused ? 'yes' : 'no' }));
    for (const line of formatTable(rows, ['name', 'waiting', 'active', 'delayed', 'failed', 'completed', 'paused'])) options.out(line);
  },

  async pause(args, options) {
    const { positionals } = parse(args, {}, { min: 1, max: 1, name: 'a queue name' });
    await call(options, 'POST', `/v1/ops/queues/${encodeURIComponent(positionals[0]!)}/pause`);
    options.out(`queue ${positionals[0]} paused`);
  },

  async resume(args, options) {
    const { positionals } = parse(args, {}, { min: 1, max: 1, name: 'a queue name' });
    await call(options, 'POST', `/v1/ops/queues/${encodeURIComponent(positionals[0]!)}/resume`);
    options.out(`queue ${positionals[0]} resumed`);
  },

  async 'dead-letters'(args, options) {
    const { values } = parse(
      args,
      { subscription: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
      { min: 0, max: 0, name: 'options only' },
    );
    const { body } = await call(
      options,
      'GET',
      `/v1/ops/dead-letters${query({ subscriptionId: str(values.subscription), since: str(values.since), limit: str(values.limit), cursor: str(values.cursor) })}`,
    );
    const page = body as { data: Row[]; nextCursor: string | null };
    if (page.data.length === 0) {
      options.out('no dead letters');
      return;
    }
    for (const line of formatTable(page.data, ['id', 'subscriptionId', 'eventType', 'attempts', 'lastStatusCode', 'lastError', 'deadAt'])) options.out(line);
    if (page.nextCursor) options.out(`more: --cursor ${page.nextCursor}`);
  },

  async replay(args, options) {
    const { values, positionals } = parse(args, { subscription: { type: 'string' }, since: { type: 'string' } }, { min: 0, name: 'message ids, or --subscription and --since' });
    const bySubscription = values.subscription !== undefined || values.since !== undefined;
    if (bySubscription === positionals.length > 0) throw new OpsError(`give message ids, or --subscription and --since, not both\n\n${USAGE}`, 2);
    if (bySubscription && (!str(values.subscription) || !str(values.since))) throw new OpsError(`--subscription and --since go together\n\n${USAGE}`, 2);
    const request = bySubscription ? { subscriptionId: str(values.subscription), since: str(values.since) } : { messageIds: positionals };
    const { body } = await call(options, 'POST', '/v1/ops/dead-letters/replay', request);
    options.out(`replayed ${(body as { replayed: number }).replayed} message(s)`);
  },

  async subscriptions(args, options) {
    const { values } = parse(
      args,
      { status: { type: 'string' }, state: { type: 'string' }, failing: { type: 'boolean' }, limit: { type: 'string' }, cursor: { type: 'string' } },
      { min: 0, max: 0, name: 'options only' },
    );
    const { body } = await call(
      options,
      'GET',
      `/v1/ops/subscriptions${query({ status: str(values.status ?? values.state), failing: values.failing ? 'true' : undefined, limit: str(values.limit), cursor: str(values.cursor) })}`,
    );
    const page = body as { data: (Row & { health: Row })[]; nextCursor: string | null };
    if (page.data.length === 0) {
      options.out('no subscriptions');
      return;
    }
    const rows = page.data.map((s) => ({
      id: s.id,
      status: s.status,
      url: s.url,
      success: pct(s.health.successRate),
      attempts: s.health.attempts,
      lastSuccess: s.health.lastSuccessAt,
      failures: s.health.consecutiveFailures,
      circuit: s.health.circuit,
    }));
    for (const line of formatTable(rows, ['id', 'status', 'url', 'success', 'attempts', 'lastSuccess', 'failures', 'circuit'])) options.out(line);
    if (page.nextCursor) options.out(`more: --cursor ${page.nextCursor}`);
  },

  async disable(args, options) {
    const { values, positionals } = parse(args, { reason: { type: 'string' } }, { min: 1, max: 1, name: 'a subscription id' });
    const reason = str(values.reason);
    await call(options, 'POST', `/v1/ops/subscriptions/${encodeURIComponent(positionals[0]!)}/disable`, reason ? { reason } : {});
    options.out(`subscription ${positionals[0]} disabled`);
  },

  async enable(args, options) {
    const { positionals } = parse(args, {}, { min: 1, max: 1, name: 'a subscription id' });
    await call(options, 'POST', `/v1/ops/subscriptions/${encodeURIComponent(positionals[0]!)}/enable`, {});
    options.out(`subscription ${positionals[0]} enabled`);
  },
};

/** Runs one command line (without `node script`); resolves to the process exit code. */
export async function runOps(argv: string[], options: OpsOptions): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    (name ? options.out : options.err)(USAGE);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    options.err(`unknown command: ${name}\n\n${USAGE}`);
    return 2;
  }
  try {
    await command(args, options);
    return 0;
  } catch (err) {
    if (err instanceof OpsError) {
      options.err(err.message);
      return err.exitCode;
    }
    throw err;
  }
}

/** The operator token: OPERATOR_TOKEN, else the development one `npm start` keeps. */
function operatorToken(): string | undefined {
  if (process.env.OPERATOR_TOKEN) return process.env.OPERATOR_TOKEN;
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '.data', 'dev-secrets.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { OPERATOR_TOKEN?: string }).OPERATOR_TOKEN;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const token = operatorToken();
  if (!token) {
    console.error('no operator token: set OPERATOR_TOKEN (or run `npm start` once, which keeps one in .data/dev-secrets.json)');
    process.exit(2);
  }
  const code = await runOps(process.argv.slice(2), {
    url: process.env.HUBHOOK_URL ?? 'http://localhost:3000',
    token,
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
  process.exitCode = code;
}
