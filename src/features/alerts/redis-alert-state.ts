import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RuleState, SharedAlertState } from './alert-evaluator.js';

// Deletes the hold only if it is still ours: one that lapsed and was taken by another
// instance must stay that instance's.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const STATE_TTL_MS = 30 * 24 * 3_600_000; // a rule removed from the policy while firing leaves no key for ever

/**
 * The evaluator's state of fleet-wide rules in Redis: `<prefix>:state:<rule>` (JSON, removed
 * once the alert has resolved) and a hold `<prefix>:hold:<rule>` that one instance takes while
 * it evaluates the rule and sends its message. holdMs must outlast one rule's evaluation (a
 * metric read and a webhook call of at most 3 s); a hold left by a killed instance lapses.
 */
export function createRedisAlertState(redis: Pick<Redis, 'set' | 'get' | 'del' | 'eval'>, opts: { prefix: string; holdMs?: number }): SharedAlertState {
  const holdMs = opts.holdMs ?? 15_000;
  return {
    async take(rule) {
      const hold = `${opts.prefix}:hold:${rule}`;
      const key = `${opts.prefix}:state:${rule}`;
      const token = randomUUID();
      if ((await redis.set(hold, token, 'PX', holdMs, 'NX')) !== 'OK') return undefined;
      let state: RuleState | undefined;
      try {
        state = parseState(await redis.get(key));
      } catch (err) {
        await redis.eval(RELEASE, 1, hold, token).catch(() => undefined);
        throw err;
      }
      return {
        state,
        async save(next) {
          if (next.firing) await redis.set(key, JSON.stringify(next), 'PX', STATE_TTL_MS);
          else await redis.del(key);
        },
        async release() {
          await redis.eval(RELEASE, 1, hold, token);
        },
      };
    },
  };
}

function parseState(raw: string | null): RuleState | undefined {
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<RuleState>;
    if (v.firing !== true || typeof v.since !== 'number') return undefined;
    return { firing: true, since: v.since, ...(typeof v.sentAt === 'number' ? { sentAt: v.sentAt } : {}) };
  } catch {
    return undefined; // unreadable: start over, as a new instance would
  }
}
