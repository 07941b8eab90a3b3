import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';

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
  const text = decodeUtf8(file, await readFile(file));
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

// A spreadsheet's plain "CSV" is saved in the computer's legacy code page (Windows-1252 in
// France, Shift_JIS in Japan), not UTF-8: read as UTF-8 every accented or CJK character of
// it became U+FFFD, and those answers were graded (and ids reported) as garbage without a word.
// Such a file is refused, naming the first line that is not UTF-8.
const utf8 = new TextDecoder('utf-8', { fatal: true });
function decodeUtf8(file: string, bytes: Buffer): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new Error(`${file}: is UTF-16 ("Unicode text"); save it as "CSV UTF-8" (or write JSONL in UTF-8)`);
  }
  try {
    return utf8.decode(bytes);
  } catch {
    const lenient = bytes.toString('utf8');
    const line = lenient.slice(0, lenient.indexOf('\uFFFD')).split('\n').length;
    throw new Error(`${file}:${line}: is not UTF-8 (a spreadsheet's plain "CSV" uses the computer's code page); save it as "CSV UTF-8"`);
  }
}

function readJsonl(file: string, text: string): { record: Record<string, unknown>; line: number }[] {
  // Numbered before blank lines are dropped, so a message names the line an editor shows.
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((l, i) => ({ l, line: i + 1 }))
    .filter(({ l }) => l.trim())
    .map(({ l, line }) => {
      try {
        return { record: JSON.parse(l) as Record<string, unknown>, line };
      } catch {
        throw new Error(`${file}:${line}: not valid JSON`);
      }
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
