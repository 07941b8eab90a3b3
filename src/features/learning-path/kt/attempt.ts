import { readFile } from 'node:fs/promises';

/** One graded attempt, in the learner's attempt order. */
export interface Attempt {
  userId: string;
  itemId: string;
  /** Skills the item exercises (a Q-matrix row); the ASSISTments files carry one combination id. */
  skillIds: readonly string[];
  correct: boolean;
}

/**
 * Parses the Gervet et al. preprocessed format: `user_id item_id timestamp correct skill_id`,
 * tab-separated, optional header. Timestamps are ignored because they are all 0 in the shipped
 * split and the models here use attempt order instead.
 */
export function parseAttemptsTsv(text: string): Attempt[] {
  const out: Attempt[] = [];
  // Interning keeps one string (and one skills array) per id instead of one per row.
  const skillArrays = new Map<string, readonly string[]>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) continue;
    const cols = line.split('\t');
    if (cols.length < 5) throw new Error(`line ${i + 1}: expected 5 tab-separated columns, got ${cols.length}`);
    const [userId, itemId, , correct, skill] = cols as [string, string, string, string, string];
    if (i === 0 && correct === 'correct') continue;
    if (correct !== '0' && correct !== '1') throw new Error(`line ${i + 1}: correct must be 0 or 1, got '${correct}'`);
    let skillIds = skillArrays.get(skill);
    if (!skillIds) {
      skillIds = Object.freeze([skill]);
      skillArrays.set(skill, skillIds);
    }
    out.push({ userId, itemId, skillIds, correct: correct === '1' });
  }
  return out;
}

export async function readAttemptsTsv(file: string): Promise<Attempt[]> {
  return parseAttemptsTsv(await readFile(file, 'utf8'));
}

/** Groups rows by user, keeping first-appearance order of users and row order within a user. */
export function groupByUser<T extends { userId: string }>(rows: readonly T[]): Map<string, T[]> {
  const byUser = new Map<string, T[]>();
  for (const r of rows) {
    let list = byUser.get(r.userId);
    if (!list) byUser.set(r.userId, (list = []));
    list.push(r);
  }
  return byUser;
}
