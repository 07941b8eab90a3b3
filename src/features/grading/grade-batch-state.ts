import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { AnthropicClient, BatchStatus } from '../../llm/client/types.js';

// The state file next to the input. It is written before the create call (no batchId yet)
// and again once the batch id is known: a run interrupted in between knows that a batch
// may exist upstream, and looks for it instead of paying for a second one.
export interface BatchState {
  v: 2;
  batchId?: string;
  run: string; // suffix of every custom_id this run sends: proves a found batch is its own
  creatingAt: number; // Unix ms, local clock, just before the create call
  rubricId: string;
  rubricVersion: number;
  count: number;
  fingerprint: string; // answersFingerprint of the input
  notOurs?: string[]; // batches found after an interrupted create that proved to be another run's
}

// How far the API's clock may be behind ours when we look for a batch by creation time.
const CLOCK_SKEW_MS = 10 * 60_000;

export async function readState(stateFile: string): Promise<BatchState | undefined> {
  if (!existsSync(stateFile)) return undefined;
  const state = JSON.parse(await readFile(stateFile, 'utf8')) as Partial<BatchState> & { batchId?: string };
  if (state.v !== 2) {
    // Its requests carried the file's own ids as custom_id and it kept no fingerprint, so
    // its results cannot be matched back safely.
    throw new Error(`${stateFile} was written by an older tutorgate${state.batchId ? ` (batch ${state.batchId})` : ''}; remove it to start over`);
  }
  return state as BatchState;
}

export async function writeState(stateFile: string, state: BatchState): Promise<void> {
  const tmp = `${stateFile}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, stateFile); // never a half-written state file after a kill
}

// Batches created upstream since the interrupted create call that have as many requests
// as this run sent. The list is newest first, so reading stops at the first older batch.
// `requests`: how many the run sends (its answers less the blank ones).
export async function findCreatedBatches(llm: Pick<AnthropicClient, 'batches'>, state: BatchState, requests: number): Promise<BatchStatus[]> {
  const since = state.creatingAt - CLOCK_SKEW_MS;
  const found: BatchStatus[] = [];
  for await (const b of llm.batches.list()) {
    if (Date.parse(b.createdAt) < since) break;
    if (state.notOurs?.includes(b.id)) continue;
    const c = b.counts;
    if (c.processing + c.succeeded + c.errored + c.canceled + c.expired === requests) found.push(b);
  }
  return found;
}
