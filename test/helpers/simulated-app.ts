import { startSimulator } from '../../src/llm/simulator/index.js';
import type { Simulator } from '../../src/llm/simulator/types.js';
import type { PolicyFile } from '../../src/platform/policy.schema.js';
import { createTestApp, type TestApp } from './test-app.js';
import type { TestStore } from './databases.js';
import type { Redis } from 'ioredis';

export const SIM_KEY = 'sk-ant-.test-0123456789abcdefSECRETKEY';

// "Claude" grades every answer on the default rubric as correct, validly (confidence 0.9: no
// second sample); the grading tests cover invalid and low-confidence answers.
export function gradeEveryAnswerValidly(sim: Simulator): void {
  sim.script.when('<student_answer>', {
    json: {
      criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }],
      feedback: { strengths: ['Clear.'], improve: ['Say where the vapour goes.'], nextStep: 'Explain the role of heat.' },
      confidence: 0.9,
    },
  });
}

// An app whose Anthropic client talks to the simulator over a real socket with the real SDK.
/** `inferenceGeo`: the simulated workspace's default_inference_geo ('us': US-only inference). */
export async function createSimulatedApp(opts: { policy?: PolicyFile; store?: 'sqlite' | 'postgres' | TestStore; redis?: Redis; env?: Record<string, string>; latencyMs?: number; inferenceGeo?: 'global' | 'us' } = {}): Promise<TestApp & { sim: Simulator }> {
  const sim = await startSimulator({ apiKey: SIM_KEY, ...(opts.latencyMs ? { latencyMs: opts.latencyMs } : {}), ...(opts.inferenceGeo ? { inferenceGeo: opts.inferenceGeo } : {}) });
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
