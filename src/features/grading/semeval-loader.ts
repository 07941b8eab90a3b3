import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type TwoWayLabel = 'correct' | 'incorrect';

export interface SemevalStudentAnswer {
  id: string;
  text: string;
  /** The label as written in the file (2-, 3- or 5-way). */
  accuracy: string;
  /** 'correct' stays correct; every other label (partially_correct_incomplete, contradictory, irrelevant, non_domain, incorrect) is incorrect. */
  gold: TwoWayLabel;
}

export interface SemevalQuestion {
  id: string;
  module?: string;
  file: string;
  questionText: string;
  referenceAnswers: string[];
  studentAnswers: SemevalStudentAnswer[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[e.toLowerCase()] ?? whole;
  });
}

function parseAttributes(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) out[m[1]!] = decodeXmlEntities(m[2] ?? m[3] ?? '');
  return out;
}

function elements(xml: string, tag: string): Array<{ attrs: Record<string, string>; text: string }> {
  const re = new RegExp(`<${tag}(\\s[^>]*?)?(?:/>|>([\\s\\S]*?)</${tag}\\s*>)`, 'g');
  return [...xml.matchAll(re)].map((m) => ({
    attrs: parseAttributes(m[1] ?? ''),
    text: decodeXmlEntities((m[2] ?? '').replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')).trim(),
  }));
}

/**
 * Tolerant reader for one SemEval-2013 Task 7 question file. Only the fields
 * the grader may see are kept: Beetle's `answerMatch` attribute (which names the
 * reference answer a student answer matched) would leak the label, so it is dropped.
 */
export function parseSemevalXml(xml: string, file = '<memory>'): SemevalQuestion {
  const q = elements(xml, 'question')[0];
  const id = q?.attrs.id ?? /<question\b[^>]*\bid="([^"]*)"/.exec(xml)?.[1];
  if (!id) throw new Error(`${file}: no <question id="..."> element`);
  const questionText = elements(xml, 'questionText')[0]?.text;
  if (questionText === undefined) throw new Error(`${file}: no <questionText>`);
  const referenceAnswers = elements(xml, 'referenceAnswer').map((e) => e.text).filter(Boolean);
  const studentAnswers = elements(xml, 'studentAnswer').map((e, i) => {
    const accuracy = e.attrs.accuracy;
    if (!accuracy) throw new Error(`${file}: studentAnswer #${i + 1} has no accuracy attribute`);
    return { id: e.attrs.id ?? `${id}#${i + 1}`, text: e.text, accuracy, gold: accuracy === 'correct' ? 'correct' : 'incorrect' } as const;
  });
  return { id, module: q?.attrs.module, file, questionText, referenceAnswers, studentAnswers };
}

async function listXml(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listXml(p)));
    else if (e.isFile() && e.name.endsWith('.xml')) out.push(p);
  }
  return out;
}

/** Every question file under `dir`, recursively, in a stable (sorted) order. */
export async function loadSemevalDir(dir: string): Promise<SemevalQuestion[]> {
  const files = await listXml(dir);
  if (files.length === 0) throw new Error(`${dir}: no .xml question files found`);
  return Promise.all(files.map(async (f) => parseSemevalXml(await readFile(f, 'utf8'), f)));
}
