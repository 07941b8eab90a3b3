import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import { decodeUtf8 } from '../../platform/utf8-file.js';

export interface BatchAnswer {
  id: string;
  question: string;
  answer: string;
  line: number; // in the input file, for messages a teacher can act on
}

// Reads a class set. Spreadsheets save CSV with a byte-order mark, and so do some editors
// JSONL: without stripping it the first header reads "\uFEFFid" (every student id lost) and
// the first JSON line does not parse.
export async function readAnswers(file: string, defaultQuestion?: string): Promise<BatchAnswer[]> {
  return (await readAnswerFile(file, defaultQuestion)).answers;
}

/** The answers, and whether the file began with a UTF-8 byte-order mark (the results CSV follows it). */
export async function readAnswerFile(file: string, defaultQuestion?: string): Promise<{ answers: BatchAnswer[]; bom: boolean }> {
  const bytes = await readFile(file);
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return { answers: parseAnswers(file, decodeUtf8(file, bytes), defaultQuestion), bom };
}

function parseAnswers(file: string, text: string, defaultQuestion?: string): BatchAnswer[] {
  const records: { record: Record<string, unknown>; line: number }[] = file.endsWith('.jsonl') ? readJsonl(file, text) : readCsv(text);
  const firstLine = new Map<string, number>();
  return records.map(({ record: r, line }, i) => {
    const id = String(r.id ?? r.answer_id ?? i + 1);
    const answer = typeof r.answer === 'string' ? r.answer : undefined;
    const question = typeof r.question === 'string' && r.question ? r.question : defaultQuestion;
    // An empty or whitespace-only answer is a student's blank answer (CSV fields arrive
    // trimmed): the rules grade it as blank_input. Only a missing answer field is refused.
    if (answer === undefined) throw new Error(`${file}:${line}: record ${i + 1} (${id}) has no answer`);
    if (!question) throw new Error(`${file}:${line}: record ${i + 1} (${id}) has no question and the rubric names none`);
    // Results are matched back by id; two rows with one id could not both be reported.
    const first = firstLine.get(id);
    if (first !== undefined) throw new Error(`${file}:${line}: id ${JSON.stringify(id)} is already used on line ${first}; ids must be unique`);
    firstLine.set(id, line);
    return { id, question, answer, line };
  });
}

function readJsonl(file: string, text: string): { record: Record<string, unknown>; line: number }[] {
  // Numbered before blank lines are dropped, so a message names the line an editor shows.
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((l, i) => ({ l, line: i + 1 }))
    .filter(({ l }) => l.trim())
    .map(({ l, line }) => {
      let record: unknown;
      try {
        record = JSON.parse(l);
      } catch {
        throw new Error(`${file}:${line}: not valid JSON`);
      }
      // null threw "Cannot read properties of null"; an array or a string was reported as
      // a record with no answer.
      if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new Error(`${file}:${line}: not a JSON object (one answer per line: {"id":…,"answer":…})`);
      return { record: record as Record<string, unknown>, line };
    });
}

function readCsv(text: string): { record: Record<string, unknown>; line: number }[] {
  const rows = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true, bom: true, info: true }) as { record: Record<string, string>; info: { lines: number } }[];
  // info.lines is the line a record ends on: its own line unless a quoted field spans lines.
  return rows.map((r) => ({ record: r.record, line: r.info.lines }));
}

// What a resumed run must find unchanged: every id, question and answer, in order. A
// batch's requests are matched back by position, so an edited file would map results onto
// the wrong students or lose them.
export function answersFingerprint(answers: BatchAnswer[]): string {
  return createHash('sha256').update(JSON.stringify(answers.map((a) => [a.id, a.question, a.answer]))).digest('hex');
}
