// Graders check that quoted evidence occurs verbatim in the student's answer, so generated
// strings are slices of the prompt itself, preferably of the answer being judged. Without an
// answer, a summary (a learner's, for a learning path's rationale) is the prose to quote: the
// rest of such a prompt is ids and JSON, which a real model would not write to a learner and
// which the learning path's validator refuses.
const PREFERRED_TAGS: Array<(name: string) => boolean> = [
  (n) => n === 'student_answer',
  (n) => n.includes('answer'),
  (n) => n.includes('response') || n.includes('submission'),
  (n) => n.includes('summary'),
];

const FALLBACK_TEXT = 'simulated answer text for offline testing only';

export function evidenceSource(text: string): string {
  const tags: Array<{ name: string; body: string }> = [];
  const re = /<([A-Za-z_][\w.-]{0,63})(?:\s[^<>]{0,200})?>([\s\S]*?)<\/\1\s*>/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const body = m[2]!.trim();
    if (body.length > 0) tags.push({ name: m[1]!.toLowerCase(), body });
    if (tags.length > 64) break;
  }
  for (const prefer of PREFERRED_TAGS) {
    const hit = tags.findLast((t) => prefer(t.name));
    if (hit) return hit.body;
  }
  return text.trim().length > 0 ? text : FALLBACK_TEXT;
}

export class PhraseSource {
  private readonly words: Array<{ start: number; end: number }> = [];

  constructor(
    private readonly text: string,
    private readonly rand: () => number,
  ) {
    const re = /\S+/g;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      this.words.push({ start: m.index, end: m.index + m[0].length });
      if (this.words.length >= 5000) break;
    }
  }

  /** A verbatim slice of 3-8 consecutive words, stretched or cut to honour the length bounds. */
  phrase(minLength = 0, maxLength = Number.POSITIVE_INFINITY): string {
    const n = this.words.length;
    let out: string;
    if (n === 0) {
      out = FALLBACK_TEXT;
    } else {
      const len = Math.min(n, 3 + Math.floor(this.rand() * 6));
      const startIdx = Math.floor(this.rand() * (n - len + 1));
      const start = this.words[startIdx]!.start;
      out = this.text.slice(start, this.words[startIdx + len - 1]!.end);
      if (out.length < minLength) out = this.text.slice(start, start + minLength);
      if (out.length < minLength) out = this.text.slice(Math.max(0, this.text.length - minLength));
    }
    if (out.length < minLength) out = out + 'x'.repeat(minLength - out.length);
    if (out.length > maxLength) {
      const cut = out.slice(0, maxLength);
      const trimmed = cut.trimEnd();
      out = trimmed.length >= minLength ? trimmed : cut;
    }
    return out;
  }
}
