import { rm, rename, writeFile } from 'node:fs/promises';
import { isLlmError } from '../../llm/client/llm-error.js';
import type { AnthropicClient, BatchResultItem } from '../../llm/client/types.js';
import { randomToken } from '../../platform/ids.js';
import type { BudgetLine } from '../usage/budget.repository.js';
import type { MeteringService } from '../usage/metering.service.js';
import type { UsageLedgerRepository } from '../usage/usage-ledger.repository.js';
import { answersFingerprint, readAnswerFile, type BatchAnswer } from './grade-batch-input.js';
import { findCreatedBatches, readState, writeState, type BatchState } from './grade-batch-state.js';
import { buildGradingPrompt } from './grading-prompt.js';
import { validateGradingOutput } from './grading-output.validator.js';
import { rulesGrade } from './rules-grader.js';
import { isBlankAnswer } from './blank-answer.js';
import type { Rubric } from './rubric.schema.js';

export { readAnswers, type BatchAnswer } from './grade-batch-input.js';

export interface BatchGradeRow {
  id: string;
  score: number;
  maxScore: number;
  source: 'llm' | 'rules';
  levels: Record<string, string>;
  confidence: number;
  problem?: string;
}

export interface GradeBatchDeps {
  llm: Pick<AnthropicClient, 'batches'>;
  metering: Pick<MeteringService, 'recordUnreserved'>;
  ledger: Pick<UsageLedgerRepository, 'hasMessage'>;
  progress: (done: number, total: number) => void;
  notice: (line: string) => void; // what the operator should know about a resume
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  pollMs: number;
  userId: string; // whom the batch is billed to in the ledger
  // The budgets a batch result's cost is added to when it is metered, named for that instant
  // (the grading feature's daily budget and the global one).
  budgetLines?: (at: number) => BudgetLine[];
  maxTokens: number;
}

// The API takes 1-64 characters of [A-Za-z0-9_-] as custom_id and refuses the whole batch
// otherwise, so the file's own ids (emails, names with spaces) cannot be sent: a request
// is named by its row and the run, and mapped back by position.
const customId = (run: string, index: number) => `r${index}-${run}`;

// `adopted`: found after an interrupted create, so not yet proven to be this run's batch.
type Created = BatchState & { batchId: string; adopted?: true };

// Sends a class set through the Message Batches API (half price). The batch id is kept
// in a state file next to the input, so an interrupted run resumes the same batch
// instead of paying for a second one; results already metered are not metered again.
// Blank answers are not sent: the rules grade them (problem `blank_input`), as the API does.
export async function gradeBatch(file: string, rubric: Rubric, out: string, deps: GradeBatchDeps): Promise<{ rows: BatchGradeRow[]; batchId: string | undefined; resumed: boolean; missing: string[] }> {
  const { answers, bom } = await readAnswerFile(file, rubric.question);
  const toSend = answers.flatMap((a, i) => (isBlankAnswer(a.answer) ? [] : [i]));
  if (toSend.length === 0) {
    const rows = answers.map((a, i) => toRow(a, blankResult(i), rubric));
    await writeRows(out, rows, bom);
    return { rows, batchId: undefined, resumed: false, missing: [] };
  }
  const fingerprint = answersFingerprint(answers);
  const stateFile = `${file}.batch-state.json`;
  const state = await readState(stateFile);
  const resumed = state !== undefined;
  let created: Created | undefined;
  if (state) {
    if (state.rubricId !== rubric.id || state.rubricVersion !== rubric.version || state.count !== answers.length) {
      throw new Error(`${stateFile} belongs to another run (rubric ${state.rubricId} v${state.rubricVersion}, ${state.count} answers); remove it to start over`);
    }
    if (state.fingerprint !== fingerprint) {
      throw new Error(`${file} changed since its batch${state.batchId ? ` ${state.batchId}` : ''} was created (ids, questions or answers differ, and results are matched back by row); restore it, or remove ${stateFile} to grade it as a new batch`);
    }
    created = state.batchId ? { ...state, batchId: state.batchId } : await adoptInterruptedCreate(state, stateFile, toSend.length, deps);
  }
  created ??= await createBatch(answers, toSend, rubric, fingerprint, stateFile, deps);
  const { batchId, run } = created;
  for (;;) {
    const status = await deps.llm.batches.retrieve(batchId);
    const c = status.counts;
    deps.progress(c.succeeded + c.errored + c.canceled + c.expired, toSend.length);
    if (status.status === 'ended') break;
    await deps.sleep(deps.pollMs);
  }
  const indexOf = new Map(answers.map((_, i) => [customId(run, i), i]));
  // First pass, before anything is billed: every result must be one this run sent. Results are
  // read twice rather than held in memory (a batch may hold 100,000 answers).
  const foreign: string[] = [];
  for await (const r of deps.llm.batches.results(batchId)) if (!indexOf.has(r.customId)) foreign.push(r.customId);
  if (foreign.length) {
    const sample = `${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}`;
    if (created.adopted) {
      // Another run's batch of the same size: remembered as such, so the next run creates this file's own.
      const { batchId: _, adopted: __, ...waiting } = created;
      await writeState(stateFile, { ...waiting, notOurs: [...(waiting.notOurs ?? []), batchId] });
      throw new Error(`batch ${batchId}, found after the interrupted create, is another run's (it holds requests this run never sent: ${sample}); nothing was billed to ${deps.userId}; run again to create the batch of ${file}`);
    }
    throw new Error(`batch ${batchId} holds requests this run never sent (${sample}): it is not the batch of ${file}; nothing was billed; remove ${stateFile} to start over`);
  }
  const rows: (BatchGradeRow | undefined)[] = answers.map(() => undefined); // no holes: map() would skip them
  for await (const r of deps.llm.batches.results(batchId)) {
    // Metered whatever it maps to: the key paid for it.
    if (r.usage && r.messageId && !(await deps.ledger.hasMessage(r.messageId))) {
      const at = deps.now();
      await deps.metering.recordUnreserved({ userId: deps.userId, feature: 'grading', at, lines: deps.budgetLines?.(at) ?? [] }, [{ model: r.model ?? 'unknown', messageId: r.messageId, latencyMs: 0, usage: r.usage, outcome: r.ok ? 'ok' : (r.error ?? 'error'), batch: true }], 'batch');
    }
    const i = indexOf.get(r.customId)!; // every custom_id was checked above
    rows[i] = toRow(answers[i]!, r, rubric);
  }
  // An answer the batch returned nothing for is graded by rules and says so, rather than
  // silently missing from the output; the caller reports the ids.
  const missing: string[] = [];
  const complete = rows.map((row, i) => {
    if (row) return row;
    if (isBlankAnswer(answers[i]!.answer)) return toRow(answers[i]!, blankResult(i), rubric);
    missing.push(answers[i]!.id);
    return toRow(answers[i]!, { customId: customId(run, i), ok: false, error: 'no_result' }, rubric);
  });
  await writeRows(out, complete, bom);
  await rename(stateFile, `${stateFile}.done`);
  return { rows: complete, batchId, resumed, missing };
}

const blankResult = (i: number): BatchResultItem => ({ customId: `blank-${i}`, ok: false, error: 'blank_input' });

// A results CSV begins with a byte-order mark when the class set did: Excel's "CSV UTF-8"
// writes one, and without it Excel opens the results in the machine's legacy code page (a
// student id "Zoë" shown as "ZoÃ«"). A class set made without one (a script, Google Sheets,
// LibreOffice, Numbers) gets results without one, for tools that would read the mark as part
// of the first header ("\uFEFFid": Python's csv module, R, cut). JSONL never has one.
async function writeRows(out: string, rows: BatchGradeRow[], bom: boolean): Promise<void> {
  const tmp = `${out}.tmp`;
  await writeFile(tmp, out.endsWith('.csv') ? (bom ? '\uFEFF' : '') + toCsv(rows) : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await rename(tmp, out);
}

// `toSend`: the rows to send, by index (a request keeps its row's index in its custom_id).
async function createBatch(answers: BatchAnswer[], toSend: number[], rubric: Rubric, fingerprint: string, stateFile: string, deps: GradeBatchDeps): Promise<Created> {
  const state: BatchState = { v: 2, run: randomToken(6), creatingAt: deps.now(), rubricId: rubric.id, rubricVersion: rubric.version, count: answers.length, fingerprint };
  const items = toSend.map((i) => {
    const a = answers[i]!;
    const p = buildGradingPrompt({ rubric, question: a.question, answer: a.answer });
    return { customId: customId(state.run, i), feature: 'grading', system: [{ text: p.system, cache: '1h' as const }, { text: p.rubricBlock, cache: '5m' as const }], user: p.user, schema: p.outputSchema, maxTokens: deps.maxTokens };
  });
  // Written before the call: a run killed while it is in flight must not create blindly again.
  await writeState(stateFile, state);
  let batchId: string;
  try {
    batchId = await deps.llm.batches.create(items);
  } catch (err) {
    // A 4xx answer means the API refused the request and created nothing; anything else
    // (timeout, lost connection, 5xx) may have created the batch, so the state stays.
    if (isLlmError(err) && err.status !== undefined && err.status >= 400 && err.status < 500) await rm(stateFile, { force: true });
    throw err;
  }
  const created = { ...state, batchId };
  await writeState(stateFile, created);
  return created;
}

// A run that was interrupted during the create call cannot know whether the batch came
// into being. The API lists batches but not their custom_ids, so candidates are batches
// created since then with as many requests; one is adopted (its custom_ids, checked before
// any result is billed, prove it is this run's), none means nothing reached the API, and
// several are for the operator to tell apart.
async function adoptInterruptedCreate(state: BatchState, stateFile: string, requests: number, deps: GradeBatchDeps): Promise<Created | undefined> {
  const found = await findCreatedBatches(deps.llm, state, requests);
  if (found.length === 0) {
    deps.notice(`the previous run was interrupted while creating its batch, and no batch of ${requests} requests was created since: creating it now`);
    return undefined;
  }
  if (found.length > 1) {
    throw new Error(`the previous run was interrupted while creating its batch, and ${found.length} batches of ${requests} requests were created since (${found.map((b) => b.id).join(', ')}); check them in the Anthropic Console, cancel the ones that are not this file's, and put the right id into ${stateFile} as "batchId" (or remove ${stateFile} to create a new batch)`);
  }
  // Not written to the state file until its results prove it ours: a run interrupted while it
  // waits looks again, and a batch that proves foreign is set aside (`notOurs`).
  const adopted: Created = { ...state, batchId: found[0]!.id, adopted: true };
  deps.notice(`the previous run was interrupted while creating its batch; resuming ${adopted.batchId}, created at ${found[0]!.createdAt} (checked to be this run's before anything is billed)`);
  return adopted;
}

function toRow(a: BatchAnswer, r: BatchResultItem, rubric: Rubric): BatchGradeRow {
  const v = r.ok ? validateGradingOutput(r.raw, { rubric, answer: a.answer, revealGuard: true }) : undefined;
  const grade = v?.ok ? v.grade : rulesGrade({ rubric, question: a.question, answer: a.answer });
  return {
    id: a.id,
    score: grade.score,
    maxScore: grade.maxScore,
    source: v?.ok ? 'llm' : 'rules',
    levels: Object.fromEntries(grade.criteria.map((c) => [c.criterionId, c.levelId])),
    confidence: grade.confidence,
    ...(v?.ok ? {} : { problem: r.ok ? (v && !v.ok ? v.problems.join('; ') : 'invalid') : (r.error ?? 'error') }),
  };
}

function toCsv(rows: BatchGradeRow[]): string {
  const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return ['id,score,maxScore,source,confidence,levels,problem', ...rows.map((r) => [r.id, r.score, r.maxScore, r.source, r.confidence, JSON.stringify(r.levels), r.problem ?? ''].map((x) => esc(String(x))).join(','))].join('\n') + '\n';
}
