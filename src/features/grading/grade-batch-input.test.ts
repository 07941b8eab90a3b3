import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answersFingerprint, readAnswers } from './grade-batch-input.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-batch-input-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('reading a class set for grade-batch', () => {
  it('keeps every student id of a CSV saved with a byte-order mark (as spreadsheets save it)', async () => {
    const answers = await readAnswers(file('bom.csv', '\uFEFFid,answer\nalice,It evaporated.\nbob,It soaked in.\n'), 'Where did the water go?');
    expect(answers.map((a) => a.id)).toEqual(['alice', 'bob']);
  });

  it('reads a JSONL file that starts with a byte-order mark', async () => {
    const answers = await readAnswers(file('bom.jsonl', '\uFEFF{"id":"alice","answer":"It evaporated."}\n'), 'Q?');
    expect(answers).toEqual([{ id: 'alice', question: 'Q?', answer: 'It evaporated.', line: 1 }]);
  });

  it('names the line an editor shows when JSONL has blank lines before the bad one', async () => {
    const p = file('blank.jsonl', '{"id":"a","answer":"x"}\n\n\n{"id":"b", nope}\n');
    await expect(readAnswers(p, 'Q?')).rejects.toThrow(`${p}:4: not valid JSON`);
  });

  it('reads a blank CSV answer as a blank answer for the rules, and refuses only a missing one', async () => {
    const answers = await readAnswers(file('blank.csv', 'id,answer\nalice,It evaporated.\nbob,   \ncy,\n'), 'Q?');
    expect(answers.map((a) => [a.id, a.answer])).toEqual([['alice', 'It evaporated.'], ['bob', ''], ['cy', '']]);
    const missing = file('missing.jsonl', '{"id":"a","answer":"x"}\n{"id":"b"}\n');
    await expect(readAnswers(missing, 'Q?')).rejects.toThrow(`${missing}:2: record 2 (b) has no answer`);
  });

  it('refuses a repeated id with both line numbers, before anything is sent', async () => {
    const csv = file('dup.csv', 'id,answer\nalice@school.org,one\nbob smith,two\nalice@school.org,three\n');
    await expect(readAnswers(csv, 'Q?')).rejects.toThrow(`${csv}:4: id "alice@school.org" is already used on line 2`);
    const jsonl = file('dup.jsonl', '{"id":"a","answer":"x"}\n\n{"id":"a","answer":"y"}\n');
    await expect(readAnswers(jsonl, 'Q?')).rejects.toThrow(`${jsonl}:3: id "a" is already used on line 1`);
  });

  it('fingerprints ids, questions and answers, so an edited file is told apart', async () => {
    const a = await readAnswers(file('f1.csv', 'id,answer\ns1,It evaporated.\ns2,It soaked in.\n'), 'Q?');
    const same = await readAnswers(file('f2.csv', 'id,answer\n\ns1,It evaporated.\ns2,It soaked in.\n'), 'Q?');
    const edited = await readAnswers(file('f3.csv', 'id,answer\ns1,It evaporated!\ns2,It soaked in.\n'), 'Q?');
    const swapped = await readAnswers(file('f4.csv', 'id,answer\ns2,It soaked in.\ns1,It evaporated.\n'), 'Q?');
    expect(answersFingerprint(same)).toBe(answersFingerprint(a)); // line numbers are not content
    expect(answersFingerprint(edited)).not.toBe(answersFingerprint(a));
    expect(answersFingerprint(swapped)).not.toBe(answersFingerprint(a));
  });
});
