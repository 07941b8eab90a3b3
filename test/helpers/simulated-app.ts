import { startSimulator } from '../../src/llm/simulator/index.js';
import type { Simulator } from '../../src/llm/simulator/types.js';
import type { PolicyFile } from '../../src/platform/policy.schema.js';
import { createTestApp, type TestApp } from './test-app.js';
import type { TestStore } from './databases.js';
import type { Redis } from 'ioredis';

export const SIM_KEY = 'sk-ant-.test-0123456789abcdefSECRETKEY';

// An app whose Anthropic client talks to the simulator over a real socket with the real SDK.
export async function createSimulatedApp(opts: { policy?: PolicyFile; store?: 'sqlite' | 'postgres' | TestStore; redis?: Redis; env?: Record<string, string>; latencyMs?: number } = {}): Promise<TestApp & { sim: Simulator }> {
  const sim = await startSimulator({ apiKey: SIM_KEY, ...(opts.latencyMs ? { latencyMs: opts.latencyMs } : {}) });
  const t = await createTestApp({
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.policy ? { policy: opts.policy } : {}),
    ...(opts.redis ? { redis: opts.redis } : {}),
    env: { ANTHROPIC_API_KEY: SIM_KEY, ANTHROPIC_BASE_URL: sim.url, ...opts.env },
  });
  return {
    ...t,
    sim,
    async close() {
      await t.close();
      await sim.close();
    },
  };
}
