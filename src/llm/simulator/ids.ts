import { createHash, randomBytes } from 'node:crypto';

// A per-process random stem plus a counter is unique and far cheaper than random bytes per id.
const stem = randomBytes(6).toString('hex');
let counter = 0;

export function newId(prefix: string): string {
  counter += 1;
  return `${prefix}${stem}${counter.toString(36).padStart(8, '0')}`;
}

export const newRequestId = (): string => newId('req_sim_');
export const newMessageId = (): string => newId('msg_sim_');
export const newBatchId = (): string => newId('msgbatch_sim_');

export function hashText(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

export function seedFrom(text: string): number {
  return Number.parseInt(hashText(text).slice(0, 8), 16) >>> 0;
}

/** mulberry32: tiny, fast and good enough for deterministic fake answers. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
