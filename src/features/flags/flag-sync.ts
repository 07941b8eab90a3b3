import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { fingerprintOf, type FlagSnapshot } from './flag-snapshot.js';
import type { FlagDefinition } from './flag.types.js';

// Keeps every instance's snapshot within about a second of the store.
// Fast path: whoever changes a flag publishes on a Redis channel and every
// instance reloads. Safety net: a poll, every `pollMs` while pub/sub is absent
// or down, and every `healthyPollMs` otherwise (a message published while a
// subscriber was reconnecting is simply lost).

export const FLAGS_CHANGED_CHANNEL = 'tg:flags:changed';

export type FlagSyncStage = 'reload' | 'probe' | 'publish' | 'subscribe';

export interface FlagSyncOptions {
  snapshot: FlagSnapshot;
  // Reads the stored overrides; the result replaces the snapshot's overrides.
  reload: () => Promise<FlagDefinition[]>;
  // Publishing connection. Also duplicated into a subscriber when `subscriber` is omitted.
  redis?: Redis;
  // Dedicated connection for SUBSCRIBE (a subscribed ioredis client can run no other commands).
  subscriber?: Redis;
  channel?: string;
  pollMs?: number; // default 1000; 0 disables polling
  healthyPollMs?: number; // default 30000
  // Optional cheap change marker (e.g. `max(updated_at)||count(*)`); when given,
  // polls call reload only when the marker moves.
  probe?: () => Promise<string>;
  redisTimeoutMs?: number; // default 1000: Redis being down must not hang an admin request
  onError?: (err: unknown, stage: FlagSyncStage) => void;
}

export interface FlagSync {
  // Call after writing the store: reloads this instance and tells the others.
  notifyChanged(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  // Reloads this instance now (concurrent calls coalesce).
  refresh(): Promise<void>;
}

export function createFlagSync(opts: FlagSyncOptions): FlagSync {
  const { snapshot, reload, redis } = opts;
  const channel = opts.channel ?? FLAGS_CHANGED_CHANNEL;
  const pollMs = opts.pollMs ?? 1000;
  const healthyPollMs = opts.healthyPollMs ?? 30_000;
  const redisTimeoutMs = opts.redisTimeoutMs ?? 1000;
  const report =
    opts.onError ??
    ((err: unknown, stage: FlagSyncStage) => {
      // Never silent by default: a stuck sync means stale kill switches.
      process.emitWarning(`flag sync ${stage} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
  const instanceId = randomUUID();

  let subscriber: Redis | undefined = opts.subscriber;
  let ownsSubscriber = false;
  let subscribed = false;
  let stopped = true;
  let timer: NodeJS.Timeout | undefined;
  let lastCheck = 0;
  let lastMarker: string | undefined;
  let ticking = false;

  let running: Promise<void> | undefined;
  let again = false;
  let lastLoadFailed = false;

  async function loadOnce(): Promise<void> {
    try {
      const defs = await reload();
      if (fingerprintOf(defs) !== snapshot.overridesFingerprint()) snapshot.replace(defs);
      lastLoadFailed = false;
    } catch (err) {
      lastLoadFailed = true;
      report(err, 'reload');
    }
  }

  // A trigger that arrives during a reload may describe a write that reload
  // already missed, so it schedules exactly one more pass instead of being dropped.
  function refresh(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await loadOnce();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  function pubsubHealthy(): boolean {
    return subscribed && subscriber?.status === 'ready';
  }

  async function tick(): Promise<void> {
    if (ticking || stopped) return;
    const now = Date.now();
    if (pubsubHealthy() && now - lastCheck < healthyPollMs) return;
    ticking = true;
    lastCheck = now;
    try {
      if (!opts.probe) return await refresh();
      let marker: string;
      try {
        marker = await opts.probe();
      } catch (err) {
        report(err, 'probe');
        return;
      }
      if (marker === lastMarker) return;
      await refresh();
      if (!lastLoadFailed) lastMarker = marker; // retry on the next tick if the load failed
    } finally {
      ticking = false;
    }
  }

  const onMessage = (ch: string, message: string): void => {
    if (ch !== channel || stopped) return;
    try {
      if ((JSON.parse(message) as { origin?: unknown }).origin === instanceId) return; // our own change, already applied
    } catch {
      // A foreign publisher (e.g. redis-cli) sent free text: still a change signal.
    }
    void refresh();
  };
  // After a reconnect, messages sent meanwhile are gone: catch up once.
  let outageReported = false;
  const onReady = (): void => {
    outageReported = false;
    if (subscribed && !stopped) void refresh();
  };
  // Only for a subscriber we created (the caller handles errors on its own
  // clients). ioredis emits one error per retry; one report per outage is enough.
  const onSubscriberError = (err: unknown): void => {
    if (outageReported || stopped) return;
    outageReported = true;
    report(err, 'subscribe');
  };

  async function publish(): Promise<void> {
    if (!redis) return;
    try {
      await withTimeout(redis.publish(channel, JSON.stringify({ origin: instanceId, at: Date.now() })), redisTimeoutMs, 'publish');
    } catch (err) {
      report(err, 'publish'); // the others' poll will still pick the change up
    }
  }

  return {
    refresh,

    async notifyChanged() {
      await Promise.all([refresh(), publish()]);
    },

    async start() {
      if (!stopped) return;
      stopped = false;
      await refresh();
      if (!subscriber && redis) {
        subscriber = redis.duplicate();
        ownsSubscriber = true;
        subscriber.on('error', onSubscriberError);
      }
      if (subscriber) {
        subscriber.on('message', onMessage);
        subscriber.on('ready', onReady);
        // A change announced between the first load above and this subscription taking
        // effect reached nobody here: load once more when it does (else, with pub/sub
        // healthy, it would wait for the slow poll).
        let late = false;
        const subscribing = subscriber.subscribe(channel).then(
          () => {
            subscribed = true;
            if (late && !stopped) void refresh();
          },
          (err: unknown) => report(err, 'subscribe'),
        );
        try {
          await withTimeout(subscribing, redisTimeoutMs, 'subscribe');
        } catch (err) {
          // ioredis keeps the SUBSCRIBE queued and sends it on connect; until
          // then the fast poll covers us.
          report(err, 'subscribe');
        }
        late = true;
        if (subscribed) await refresh();
      }
      if (pollMs > 0) {
        lastCheck = Date.now();
        timer = setInterval(() => void tick(), pollMs);
        timer.unref();
      }
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      if (subscriber) {
        subscriber.off('message', onMessage);
        subscriber.off('ready', onReady);
        if (ownsSubscriber) {
          subscriber.disconnect(); // its error listener stays: a late socket error must not go unhandled
          subscriber = undefined;
          ownsSubscriber = false;
        } else if (subscribed) {
          try {
            await withTimeout(subscriber.unsubscribe(channel), redisTimeoutMs, 'unsubscribe');
          } catch (err) {
            report(err, 'subscribe');
          }
        }
      }
      subscribed = false;
      await running;
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  p.catch(() => {}); // a late rejection after the timeout must not become unhandled
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
