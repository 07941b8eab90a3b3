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

  it('reads ids, questions and answers in any script exactly as written: accents (NFC or NFD), CJK, right-to-left, emoji, quoted commas and line breaks', async () => {
    const rows: Array<[string, string]> = [
      ['élodie.müller', "L'eau s'évapore, grâce à la chaleur du soleil."],
      ['e\u0301lodie', "L'eau s'e\u0301vapore."],
      ['王小明', '因为太阳的热量让水蒸发了，变成了"水蒸气"。'],
      ['سارة', 'الماء يتبخر\nبسبب حرارة الشمس'],
      ['דני', '‏המים מתאדים 🌞'],
      ['👩🏽‍🎓', '👍🏽'],
    ];
    const q = '¿Por qué desaparece el charco?';
    const csvField = (s: string) => `"${s.replaceAll('"', '""')}"`;
    const csv = file('world.csv', `id,question,answer\n${rows.map(([id, a]) => [id, q, a].map(csvField).join(',')).join('\n')}\n`);
    const jsonl = file('world.jsonl', rows.map(([id, answer]) => JSON.stringify({ id, question: q, answer })).join('\n') + '\n');
    for (const f of [csv, jsonl]) {
      const got = await readAnswers(f);
      expect(got.map((a) => [a.id, a.answer])).toEqual(rows);
      expect(got.every((a) => a.question === q)).toBe(true);
    }
  });
});

describe('a class set that is not UTF-8 JSON or CSV', () => {
  const bytes = (name: string, b: Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, b);
    return p;
  };

  it('refuses a Windows-1252 CSV naming the first line that is not UTF-8, instead of grading "caf\uFFFD"', async () => {
    const p = bytes('latin1.csv', Buffer.concat([Buffer.from('id,answer\nalice,ok\nbob,caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]));
    await expect(readAnswers(p, 'Q?')).rejects.toThrow(`${p}:3: the file is not UTF-8`);
  });

  it('refuses a UTF-16 file (Excel "Unicode text") as UTF-16, not as a column count', async () => {
    const p = bytes('u16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('id,answer\nalice,ok\n', 'utf16le')]));
    await expect(readAnswers(p, 'Q?')).rejects.toThrow(`${p}: the file is UTF-16`);
  });

  it('keeps UTF-8 accents and emoji as written', async () => {
    const answers = await readAnswers(file('utf8.csv', 'id,answer\nzoë,café 😀\n'), 'Q?');
    expect(answers.map((a) => [a.id, a.answer])).toEqual([['zoë', 'café 😀']]);
  });

  it.each([['null'], ['[1,2]'], ['"an answer"'], ['42']])('refuses the JSONL line %s as not a JSON object, naming its line', async (line) => {
    const p = file(`not-object-${line.length}.jsonl`, `{"id":"a","answer":"x"}\n${line}\n`);
    await expect(readAnswers(p, 'Q?')).rejects.toThrow(`${p}:2: not a JSON object`);
  });
});
