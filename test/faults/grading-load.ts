import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IdentityRepository } from '../../src/features/identity/identity.repository.js';
import { IdentityService } from '../../src/features/identity/identity.service.js';
import { systemClock } from '../../src/platform/clock.js';
import type { Db } from '../../src/platform/db/database.js';

// What the fault tests that grade under load send and have the simulator answer: one valid
// grade for every answer, and answers unique per run (no cache hit hides a call).

export const SCRIPTED_GRADE = {
  criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }],
  feedback: { strengths: ['Clear.'], improve: ['Say where the vapour goes.'], nextStep: 'Explain the role of heat.' },
  confidence: 0.9,
};

export function gradeBodies(tag: string): (i: number) => { question: string; referenceAnswer: string; answer: string } {
  const nonce = Math.random().toString(36).slice(2, 8);
  return (i) => ({ question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer: `The sun warms the puddle until the water evaporates, ${tag} ${nonce}-${i}.` });
}

/** `n` premium learners `${prefix}-0…`, each with an API key; returns the keys in order. */
export async function premiumLearners(db: Db, prefix: string, n: number): Promise<string[]> {
  const identity = new IdentityService(new IdentityRepository(db), systemClock);
  const keys: string[] = [];
  for (let u = 0; u < n; u++) {
    await identity.createUser({ id: `${prefix}-${u}`, tier: 'premium', roles: ['learner'] });
    keys.push((await identity.createApiKey(`${prefix}-${u}`)).key);
  }
  return keys;
}

/** A policy file in `dir` whose premium limits no load test reaches; returns its path. */
export function roomyPolicyFile(dir: string): string {
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'limits:\n  premium: { requestsPerMinute: 1000, requestsPerHour: 10000, tokensPerDay: 100000000, concurrent: 50 }\n');
  return policy;
}
