/**
 * The circuit breaker of one subscription's receiver, shared by every worker process: its state
 * lives in Redis and changes only inside the limits scripts (`limits.ts`), so N workers see one
 * breaker. The rules:
 *
 * - closed: requests flow. Each answer counts in a sliding window (`windowMs`, in `buckets`
 *   time buckets). The circuit opens when at least `minRequests` answers came in the window and
 *   at least `failureRatio` of them failed: a failure RATE with a minimum volume, so a burst of
 *   concurrent timeouts from a mostly healthy receiver does not open it.
 * - open: no request starts until `open_until`. Messages are deferred, not tried: no attempt is
 *   used up, nothing goes dead because a circuit was open.
 * - half-open: after the cool-down, exactly one request (the probe) is let through, across all
 *   processes. Its success closes the circuit (full rate at once, the window starts empty); its
 *   failure opens it again for twice the cool-down, up to `maxCooldownMs`. A probe whose worker
 *   died frees the probe when its slot lease runs out.
 *
 * Failure policy: the breaker protects receivers, it is not the truth. If Redis loses its keys
 * the circuit is simply closed again and reopens on the next window of failures.
 */

/** Options of the breaker; every worker of one deployment must use the same. */
export interface BreakerOptions {
  /** The sliding window answers are counted over; default 30 s. */
  windowMs?: number;
  /** Time buckets of the window; default 10. */
  buckets?: number;
  /** Fewest answers in the window before the rate counts; default 20. */
  minRequests?: number;
  /** Share of failed answers that opens the circuit; default 0.5. */
  failureRatio?: number;
  /** How long the circuit stays open the first time; default 30 s. */
  cooldownMs?: number;
  /** Longest open period (each failed probe doubles it); default 10 min. */
  maxCooldownMs?: number;
}

/** The breaker options with every default filled in. */
export type BreakerSettings = Required<BreakerOptions>;

/** Fills in the breaker's defaults. */
export function breakerSettings(options: BreakerOptions = {}): BreakerSettings {
  return {
    windowMs: 30_000,
    buckets: 10,
    minRequests: 20,
    failureRatio: 0.5,
    cooldownMs: 30_000,
    maxCooldownMs: 600_000,
    ...options,
  };
}

/** A circuit's state as views show it. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** What an answer did to the circuit: `opened` / `reopened` / `closed` are changes worth a log line. */
export type BreakerChange = 'unchanged' | 'opened' | 'reopened' | 'closed';

/**
 * The breaker's Lua functions, included by the limits scripts (one subscription's keys each).
 * `breaker_gate` says whether a request may start; `breaker_take_probe` marks the one request
 * let through a half-open circuit; `breaker_record` counts an answer and moves the state.
 * Times are ms, from the caller.
 */
export const BREAKER_LUA = `
local function breaker_gate(bkey, now)
  local st = redis.call('HMGET', bkey, 'state', 'open_until', 'probe_until')
  local state = st[1]
  if not state or state == 'closed' then return 'closed', 0 end
  local open_until = tonumber(st[2]) or 0
  if now < open_until then return 'open', open_until end
  local probe_until = tonumber(st[3]) or 0
  if probe_until > now then return 'probing', probe_until end
  return 'probe', 0
end

local function breaker_take_probe(bkey, now, token, lease, keep)
  redis.call('HSET', bkey, 'state', 'half_open', 'probe', token, 'probe_until', now + lease)
  redis.call('PEXPIRE', bkey, keep)
end

local function breaker_open(bkey, wkey, now, cooldown, keep)
  redis.call('HSET', bkey, 'state', 'open', 'open_until', now + cooldown, 'cooldown', cooldown, 'probe', '', 'probe_until', 0)
  redis.call('PEXPIRE', bkey, keep)
  redis.call('DEL', wkey)
end

-- The window's bucket that \`now\` falls in.
local function breaker_bucket(now, window_ms, buckets)
  return math.floor(now / math.max(1, math.floor(window_ms / buckets)))
end

-- The answers the window holds (successes, failures) in its last \`buckets\` buckets up to
-- \`current\`; older buckets are deleted.
local function breaker_window(wkey, current, buckets)
  local ok, failed = 0, 0
  local counts = redis.call('HGETALL', wkey)
  for i = 1, #counts, 2 do
    local kind, bucket = string.match(counts[i], '^(%a+):(%d+)$')
    if tonumber(bucket) <= current - buckets then
      redis.call('HDEL', wkey, counts[i])
    elseif kind == 'ok' then
      ok = ok + tonumber(counts[i + 1])
    else
      failed = failed + tonumber(counts[i + 1])
    end
  end
  return ok, failed
end

-- outcome: 'success', 'failure', or 'none' (no answer that says anything about the receiver).
local function breaker_record(bkey, wkey, now, token, outcome, window_ms, buckets, min_requests, ratio, cooldown, max_cooldown)
  local keep = max_cooldown * 2 + window_ms
  local st = redis.call('HMGET', bkey, 'state', 'probe', 'cooldown')
  local state = st[1]
  if state and state ~= 'closed' then
    if st[2] ~= token then return 'unchanged' end
    if outcome == 'success' then
      redis.call('DEL', bkey, wkey)
      return 'closed'
    end
    if outcome == 'none' then
      redis.call('HSET', bkey, 'probe', '', 'probe_until', 0)
      return 'unchanged'
    end
    local longer = math.min((tonumber(st[3]) or cooldown) * 2, max_cooldown)
    breaker_open(bkey, wkey, now, longer, keep)
    return 'reopened'
  end
  if outcome == 'none' then return 'unchanged' end
  local current = breaker_bucket(now, window_ms, buckets)
  redis.call('HINCRBY', wkey, (outcome == 'success' and 'ok:' or 'fail:') .. current, 1)
  redis.call('PEXPIRE', wkey, window_ms * 2)
  local ok, failed = breaker_window(wkey, current, buckets)
  local total = ok + failed
  if total >= min_requests and failed >= ratio * total then
    breaker_open(bkey, wkey, now, cooldown, keep)
    return 'opened'
  end
  return 'unchanged'
end

-- Counts \`count\` answers, the (token, outcome) pairs at ARGV[from], ARGV[from + 1], ... While the
-- circuit is closed (nearly always) they are judged together, as answers of one moment: all are
-- added to the window (read once, written once) and the rate is looked at once, so their order
-- in the batch (an exchange sends its failures before its successes) cannot open the circuit on
-- a run of failures that the successes beside them outnumber. A batch after a Redis fail-over
-- holds all that the lane heard meanwhile: 10 failures and 96 successes once opened the circuit
-- of a receiver failing one answer in ten (test/engine/cluster-failover.test.ts). Otherwise
-- (open or half-open) each goes through breaker_record in order: only the probe's counts.
-- Returns the most notable change.
local function breaker_record_all(bkey, wkey, now, from, count, window_ms, buckets, min_requests, ratio, cooldown, max_cooldown)
  local state = redis.call('HGET', bkey, 'state')
  if state and state ~= 'closed' then
    local change = 'unchanged'
    for i = 0, count - 1 do
      local c = breaker_record(bkey, wkey, now, ARGV[from + i * 2], ARGV[from + 1 + i * 2], window_ms, buckets, min_requests, ratio, cooldown, max_cooldown)
      if c ~= 'unchanged' then change = c end
    end
    return change
  end
  local new_ok, new_failed = 0, 0
  for i = 0, count - 1 do
    local outcome = ARGV[from + 1 + i * 2]
    if outcome == 'success' then
      new_ok = new_ok + 1
    elseif outcome ~= 'none' then
      new_failed = new_failed + 1
    end
  end
  if new_ok + new_failed == 0 then return 'unchanged' end
  local current = breaker_bucket(now, window_ms, buckets)
  local ok, failed = breaker_window(wkey, current, buckets)
  ok, failed = ok + new_ok, failed + new_failed
  local total = ok + failed
  if total >= min_requests and failed >= ratio * total then
    breaker_open(bkey, wkey, now, cooldown, max_cooldown * 2 + window_ms)
    return 'opened'
  end
  if new_ok > 0 then redis.call('HINCRBY', wkey, 'ok:' .. current, new_ok) end
  if new_failed > 0 then redis.call('HINCRBY', wkey, 'fail:' .. current, new_failed) end
  redis.call('PEXPIRE', wkey, window_ms * 2)
  return 'unchanged'
end
`;

/** Reads a circuit's state from its breaker hash fields (`state`, `open_until`, `probe_until`). */
export function circuitState(fields: (string | null)[], now: number): CircuitState {
  const [state, openUntil] = fields;
  if (!state || state === 'closed') return 'closed';
  return now < Number(openUntil ?? 0) ? 'open' : 'half_open';
}
