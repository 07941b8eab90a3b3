import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import type { AnthropicClient, BatchResultItem } from '../../llm/client/types.js';
import type { MeteringService } from '../usage/metering.service.js';
import type { UsageLedgerRepository } from '../usage/usage-ledger.repository.js';
import { buildGradingPrompt } from './grading-prompt.js';
import { validateGradingOutput } from './grading-output.validator.js';
import { rulesGrade } from './rules-grader.js';
import type { Rubric } from './rubric.schema.js';

export interface BatchAnswer {
  id: string;
  question: string;
  answer: string;
}

export interface BatchGradeRow {
  id: string;
  score: number;
  maxScore: number;
  source: 'llm' | 'rules';
  levels: Record<string, string>;
  confidence: number;
  problem?: string;
}

interface BatchState {
  batchId: string;
  rubricId: string;
  rubricVersion: number;
  count: number;
}

export interface GradeBatchDeps {
  llm: Pick<AnthropicClient, 'batches'>;
  metering: Pick<MeteringService, 'recordUnreserved'>;
  ledger: Pick<UsageLedgerRepository, 'hasMessage'>;
  progress: (done: number, total: number) => void;
  sleep: (ms: number) => Promise<void>;
  pollMs: number;
  userId: string; // whom the batch is billed to in the ledger
  maxTokens: number;
}

export async function readAnswers(file: string, defaultQuestion?: string): Promise<BatchAnswer[]> {
  const text = await readFile(file, 'utf8');
  const records: Record<string, unknown>[] = file.endsWith('.jsonl')
    ? text.split('\n').filter((l) => l.trim()).map((l, i) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new Error(`${file}:${i + 1}: not valid JSON`);
        }
      })
    : (parseCsv(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[]);
  return records.map((r, i) => {
    const id = String(r.id ?? r.answer_id ?? i + 1);
    const answer = typeof r.answer === 'string' ? r.answer : undefined;
    const question = typeof r.question === 'string' && r.question ? r.question : defaultQuestion;
    if (!answer) throw new Error(`${file}: record ${i + 1} (${id}) has no answer`);
    if (!question) throw new Error(`${file}: record ${i + 1} (${id}) has no question and the rubric names none`);
    return { id, question, answer };
  });
}

// Sends a class set through the Message Batches API (half price). The batch id is kept
// in a state file next to the input, so an interrupted run resumes the same batch
// instead of paying for a second one; results already metered are not metered again.
export async function gradeBatch(file: string, rubric: Rubric, out: string, deps: GradeBatchDeps): Promise<{ rows: BatchGradeRow[]; batchId: string; resumed: boolean }> {
  const answers = await readAnswers(file, rubric.question);
  const stateFile = `${file}.batch-state.json`;
  let state: BatchState | undefined;
  if (existsSync(stateFile)) {
    state = JSON.parse(await readFile(stateFile, 'utf8')) as BatchState;
    if (state.rubricId !== rubric.id || state.rubricVersion !== rubric.version || state.count !== answers.length) {
      throw new Error(`${stateFile} belongs to another run (rubric ${state.rubricId} v${state.rubricVersion}, ${state.count} answers); remove it to start over`);
    }
  }
  const resumed = state !== undefined;
  if (!state) {
    const items = answers.map((a) => {
      const p = buildGradingPrompt({ rubric, question: a.question, answer: a.answer });
      return { customId: a.id, feature: 'grading', system: [{ text: p.system, cache: '1h' as const }, { text: p.rubricBlock, cache: '5m' as const }], user: p.user, schema: p.outputSchema, maxTokens: deps.maxTokens };
    });
    const batchId = await deps.llm.batches.create(items);
    state = { batchId, rubricId: rubric.id, rubricVersion: rubric.version, count: answers.length };
    await writeFile(stateFile, JSON.stringify(state));
  }
  for (;;) {
    const status = await deps.llm.batches.retrieve(state.batchId);
    const c = status.counts;
    deps.progress(c.succeeded + c.errored + c.canceled + c.expired, answers.length);
    if (status.status === 'ended') break;
    await deps.sleep(deps.pollMs);
  }
  const byId = new Map(answers.map((a) => [a.id, a]));
  const rows: BatchGradeRow[] = [];
  for await (const r of deps.llm.batches.results(state.batchId)) {
    const a = byId.get(r.customId);
    if (!a) continue;
    rows.push(toRow(a, r, rubric));
    if (r.usage && r.messageId && !(await deps.ledger.hasMessage(r.messageId))) {
      await deps.metering.recordUnreserved({ userId: deps.userId, feature: 'grading' }, [{ model: r.model ?? 'unknown', messageId: r.messageId, latencyMs: 0, usage: r.usage, outcome: r.ok ? 'ok' : (r.error ?? 'error'), batch: true }], 'batch');
    }
  }
  rows.sort((x, y) => answers.findIndex((a) => a.id === x.id) - answers.findIndex((a) => a.id === y.id));
  const tmp = `${out}.tmp`;
  await writeFile(tmp, out.endsWith('.csv') ? toCsv(rows) : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await rename(tmp, out);
  await rename(stateFile, `${stateFile}.done`);
  return { rows, batchId: state.batchId, resumed };
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
