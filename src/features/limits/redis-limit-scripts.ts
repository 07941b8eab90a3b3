import type { Redis } from 'ioredis';

// Each decision is one EVALSHA: Redis runs a script atomically, so "check every window,
// then commit to all or none" cannot interleave with another instance's decision.
// Windows open on the first hit and last windowMs (same as rate-limiter-flexible).

/**
 * KEYS: one counter per window. ARGV: cost, then quota_i, windowMs_i for each key.
 * Returns {allowed, refusedIndex (1-based, 0 = none; of several, the one that resets last), used_1, pttl_1, used_2, pttl_2, ...}
 * where used is after the decision.
 */
const HIT = `
local cost = tonumber(ARGV[1])
local n = #KEYS
local allowed, refused = 1, 0
local used, ttl, fresh = {}, {}, {}
for i = 1, n do
  local quota = tonumber(ARGV[2 * i])
  local t = redis.call('PTTL', KEYS[i])
  local u = 0
  if t < 0 then
    t = tonumber(ARGV[2 * i + 1]); fresh[i] = true
  else
    u = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  used[i] = u; ttl[i] = t
  -- of the windows that refuse, the one that resets last says when a retry can pass
  if u + cost > quota then
    allowed = 0
    if refused == 0 or t > ttl[refused] then refused = i end
  end
end
if allowed == 1 and cost > 0 then
  for i = 1, n do
    if fresh[i] then
      redis.call('SET', KEYS[i], cost, 'PX', ARGV[2 * i + 1])
      used[i] = cost
    else
      used[i] = redis.call('INCRBY', KEYS[i], cost)
    end
  end
end
local out = {allowed, refused}
for i = 1, n do out[#out + 1] = used[i]; out[#out + 1] = ttl[i] end
return out
`;

/**
 * KEYS[1] the day's tokens, KEYS[2] tokens held by calls in flight. ARGV: held, quota, windowMs,
 * holdsMs. Holds the estimate in both if the day's tokens allow it. The holds counter's expiry
 * slides with every hold, so it lapses only once no hold has been taken for holdsMs (no call
 * lives that long), never under a call still in flight.
 * Returns {allowed, dayUsed (before), dayPttl, holding (before)}.
 */
const RESERVE = `
local held, quota = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('PTTL', KEYS[1])
local used = 0
if t < 0 then t = tonumber(ARGV[3]) else used = tonumber(redis.call('GET', KEYS[1]) or '0') end
local holding = tonumber(redis.call('GET', KEYS[2]) or '0')
if used + held > quota then return {0, used, t, holding} end
if held > 0 then
  if redis.call('PTTL', KEYS[1]) < 0 then redis.call('SET', KEYS[1], held, 'PX', ARGV[3]) else redis.call('INCRBY', KEYS[1], held) end
  redis.call('INCRBY', KEYS[2], held)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return {1, used, t, holding}
`;

/**
 * KEYS[1] token counter, KEYS[2] held-tokens counter. ARGV: delta1, windowMs1, delta2, windowMs2.
 * ADJUST on each key in one call (a settlement moves both).
 */
const ADJUST2 = `
for i = 1, 2 do
  local delta = tonumber(ARGV[2 * i - 1])
  if delta ~= 0 then
    if redis.call('PTTL', KEYS[i]) < 0 then
      if delta > 0 then redis.call('SET', KEYS[i], delta, 'PX', ARGV[2 * i]) end
    else
      local v = redis.call('INCRBY', KEYS[i], delta)
      if v < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
    end
  end
end
return 1
`;

/** KEYS[1] counter. ARGV: delta, windowMs. Gives back (negative) or takes more (positive), never below 0. */
const ADJUST = `
local delta = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  if delta > 0 then redis.call('SET', KEYS[1], delta, 'PX', ARGV[2]) end
  return 0
end
local v = redis.call('INCRBY', KEYS[1], delta)
if v < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL'); v = 0 end
return v
`;

// Slots are a sorted set of holder ids scored by lease expiry, so a crashed holder's slot
// lapses on its own; Redis TIME is the clock so instances with skewed clocks agree.
/** KEYS[1] slot zset. ARGV: limit, leaseMs, holderId. Returns 1 if acquired. */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: counters..., then the slot zset last if ARGV[1] == '1'.
 * Returns {used_1, pttl_1, ..., liveSlotHolders?}. Read-only.
 */
const PEEK = `
local hasSlot = ARGV[1] == '1'
local n = #KEYS
if hasSlot then n = n - 1 end
local out = {}
for i = 1, n do
  local t = redis.call('PTTL', KEYS[i])
  if t < 0 then
    out[#out + 1] = 0; out[#out + 1] = 0
  else
    out[#out + 1] = tonumber(redis.call('GET', KEYS[i]) or '0'); out[#out + 1] = t
  end
end
if hasSlot then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  out[#out + 1] = redis.call('ZCOUNT', KEYS[n + 1], '(' .. now, '+inf')
end
return out
`;

export interface LimitScripts {
  tgLimitHit(numKeys: number, ...args: string[]): Promise<number[]>;
  tgLimitAdjust(key: string, delta: string, windowMs: string): Promise<number>;
  tgLimitReserve(dayKey: string, holdsKey: string, held: string, quota: string, windowMs: string, holdsMs: string): Promise<number[]>;
  tgLimitAdjust2(key1: string, key2: string, delta1: string, windowMs1: string, delta2: string, windowMs2: string): Promise<number>;
  tgLimitAcquire(key: string, limit: string, leaseMs: string, holderId: string): Promise<number>;
  tgLimitPeek(numKeys: number, ...args: string[]): Promise<number[]>;
}

/**
 * Registers the scripts on the client (idempotent). ioredis sends EVALSHA and falls back to
 * EVAL once on NOSCRIPT, so steady state is one round trip with no script body on the wire.
 */
export function defineLimitScripts(redis: Redis): Redis & LimitScripts {
  redis.defineCommand('tgLimitHit', { lua: HIT });
  redis.defineCommand('tgLimitAdjust', { lua: ADJUST, numberOfKeys: 1 });
  redis.defineCommand('tgLimitAdjust2', { lua: ADJUST2, numberOfKeys: 2 });
  redis.defineCommand('tgLimitReserve', { lua: RESERVE, numberOfKeys: 2 });
  redis.defineCommand('tgLimitAcquire', { lua: ACQUIRE, numberOfKeys: 1 });
  redis.defineCommand('tgLimitPeek', { lua: PEEK });
  return redis as Redis & LimitScripts;
}
