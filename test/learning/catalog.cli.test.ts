import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.js';

// `tutorgate catalog import FILE` (the built CLI) with files an author's tools make: a
// Windows-1252 YAML was published with U+FFFD for every accented letter, and YAML escapes
// made U+0000 or half a surrogate pair in a title (found in session 17).
const dir = mkdtempSync(join(tmpdir(), 'tg-catalog-cli-'));
const cli = (args: string[]) => runCli(args, { DATABASE_URL: `sqlite:${join(dir, 't.db')}`, TUTORGATE_DATA_DIR: dir });
const yaml = (version: string, name: string, title = 't') => `version: ${version}\nskills:\n  - {id: a, name: "${name}", prerequisites: []}\nitems:\n  - {id: i1, title: "${title}", kind: exercise, skills: [a], minutes: 5, difficulty: 0.5}\n`;

describe('tutorgate catalog import with hostile files', { timeout: 90_000 }, () => {
  it('refuses a file that is not UTF-8, naming its line, and activates nothing', async () => {
    const file = join(dir, 'latin1.yaml');
    const text = yaml('v-latin1', 'caf_');
    const i = text.indexOf('caf_') + 3;
    writeFileSync(file, Buffer.concat([Buffer.from(text.slice(0, i)), Buffer.from([0xe9]), Buffer.from(text.slice(i + 1))]));
    const r = await cli(['catalog', 'import', file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:3: the file is not UTF-8`);
    expect(r.out).toBe('');
  });

  it('refuses U+0000 and a lone surrogate made by YAML escapes, naming the fields', async () => {
    const file = join(dir, 'escapes.yaml');
    writeFileSync(file, yaml('v-esc', 'caf\\ud800', 'a\\0b'));
    const r = await cli(['catalog', 'import', file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('items[0].title: contains U+0000');
    expect(r.err).toContain('skills[0].name: contains a lone UTF-16 surrogate');
  });

  it('imports the same catalog in UTF-8 (control)', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, yaml('v-ok', 'café 😀'));
    const r = await cli(['catalog', 'import', file]);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({ version: 'v-ok', skills: 1, items: 1 });
  });
});
