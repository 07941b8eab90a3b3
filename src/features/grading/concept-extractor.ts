import { porterStem } from './porter-stemmer.js';

// Function words carry no science content. Comparatives, directions and on/off
// are deliberately NOT here: "the bulb stays on" vs "goes off", "more" vs "less"
// are exactly what short science answers hinge on.
const STOP_WORDS = new Set(
  (
    'a an the and or but if then than so as of at by for with about against between into through ' +
    'during before after above below to from in over under again further once here there when where ' +
    'why how all any both each few other some such only own too very s t can will just should now ' +
    'i me my myself we our ours you your he him his she her it its itself they them their theirs ' +
    'what which who whom this that these those am is are was were be been being have has had having ' +
    'do does did doing would could might must shall may also because since while until ' +
    'get gets got thing things think answer question also yes really like well lot'
  ).split(/\s+/),
);

const NEGATORS = new Set([
  'not', 'no', 'never', 'none', 'nothing', 'nobody', 'neither', 'nor', 'cannot', 'without', "n't", 'nowhere', 'hardly', 'barely', 'scarcely',
  // Negators of other languages that stand before what they negate (French "ne", German
  // "nicht"/"kein", Portuguese, Russian, Greek, Arabic, Hebrew, Hindi, Vietnamese, Chinese,
  // Korean; Spanish and Italian "no" are above). Compared after diacritic folding. French "pas"
  // and German "nicht" after the verb: POST_VERBAL_NEGATORS. Japanese "ない" and Turkish "-me"
  // are not seen: see the grading docs.
  'ne', 'nicht', 'kein', 'keine', 'keinen', 'keinem', 'keiner', 'nao', 'nem', 'не', 'нет', 'ни', 'δεν', 'μην',
  'لا', 'لم', 'لن', 'ليس', 'לא', 'אין', 'नहीं', 'न', 'मत', 'khong', 'chua', '不', '没', '没有', '沒', '沒有', '未', '无', '無', '안', '못',
]);
// "dont", "isnt"... typed without the apostrophe are very common in student answers.
const APOSTROPHELESS_NEGATIONS = /^(do|does|did|is|are|was|were|has|have|had|wo|ca|could|would|should|ai)nt$/;
// Negation scope ends at a clause boundary, so "not A but B" keeps B positive.
const SCOPE_BREAKERS = new Set([
  'but', 'however', 'although', 'though', 'yet', 'because', 'so', 'and', 'while', 'whereas', 'instead',
  'mais', 'parce', 'aber', 'weil', 'und', 'sondern', 'pero', 'porque', 'sino', 'но', 'потому', 'и', 'а', 'αλλά', 'γιατί', 'και',
  '但', '但是', '可是', '因为', '因為', '所以', '而且', '和',
]);
const NEGATION_WINDOW = 3;
// Negators that stand after the verb they negate: French "pas" and "jamais" (spoken French
// drops "ne", and "n'" elided before a vowel is read as the word after it: "n'est pas"),
// German "nicht" ("der Strom fließt nicht"). Unless a negator came earlier in the clause
// ("ne … pas"), the content word just before one is negated too; like every negator it
// negates forward as well ("c'est pas chaud", "nicht durch die Lampe").
const POST_VERBAL_NEGATORS = new Set(['pas', 'jamais', 'nicht']);
// "non" negates the one word after it: the English prefix ("non-zero", "a non-conductor",
// "non-magnetic metal": the metal is not negated) and Italian "non" before a verb ("l'acqua
// non evapora"). A three-word scope measured worse on SemEval (docs/benchmarks.md).
const ONE_WORD_NEGATORS = new Set(['non']);

// Maps a word (or its stem) to a canonical concept. Small on purpose: it covers
// paraphrases that recur in school science answers, not general English.
const SYNONYM_GROUPS: ReadonlyArray<readonly string[]> = [
  ['big', 'large', 'bigger', 'larger', 'huge', 'greater', 'great'],
  ['small', 'little', 'tiny', 'smaller'],
  ['fast', 'quick', 'quickly', 'rapid', 'rapidly', 'faster', 'quicker', 'speedy'],
  ['slow', 'slowly', 'slower'],
  ['increase', 'rise', 'raise', 'grow', 'gain', 'higher', 'more', 'go_up'],
  ['decrease', 'drop', 'fall', 'reduce', 'lower', 'less', 'fewer', 'lesser', 'shrink', 'decline', 'go_down'],
  ['same', 'equal', 'identical', 'constant', 'unchanged'],
  ['different', 'differ', 'difference', 'vary', 'various', 'distinct'],
  ['connect', 'connected', 'attach', 'attached', 'join', 'joined', 'link', 'linked', 'wire', 'wired', 'hook'],
  ['separate', 'separated', 'seperate', 'seperated', 'split', 'apart', 'disconnected', 'gap'],
  ['light', 'lit', 'glow', 'shine', 'illuminate', 'bright'],
  ['heat', 'hot', 'warm', 'warmer', 'hotter', 'temperature'],
  ['cold', 'cool', 'cooler', 'colder', 'chill'],
  ['make', 'create', 'produce', 'form', 'generate', 'cause'],
  ['use', 'utilize', 'utilise', 'consume'],
  ['show', 'indicate', 'demonstrate', 'display', 'reveal'],
  ['test', 'experiment', 'trial', 'investigation', 'investigate'],
  ['move', 'motion', 'travel', 'go', 'goes', 'went'],
  ['stop', 'halt', 'cease', 'end'],
  ['start', 'begin', 'commence'],
  ['water', 'h2o'],
  ['dissolve', 'dissolves', 'soluble'],
  ['evaporate', 'evaporation', 'vaporize', 'vapor', 'vapour'],
  ['weight', 'mass', 'heavy', 'heavier'],
  ['measure', 'measurement', 'record', 'determine'],
  ['right', 'correct'],
  ['wrong', 'incorrect'],
  ['battery', 'cell'],
  ['bulb', 'lamp', 'lightbulb'],
  ['switch', 'toggle'],
  ['close', 'closed', 'complete', 'completed'],
  ['open', 'opened', 'incomplete', 'broken', 'break'],
  ['path', 'pathway', 'route', 'loop'],
  ['plant', 'plants'],
  ['sun', 'sunlight', 'solar'],
  ['earth', 'ground', 'soil'],
];

const SYNONYMS: Map<string, string> = (() => {
  const m = new Map<string, string>();
  for (const group of SYNONYM_GROUPS) {
    const canonical = porterStem(group[0]!.replace('_', ''));
    for (const w of group) {
      m.set(w, canonical);
      m.set(porterStem(w), canonical);
    }
  }
  return m;
})();

const NUMBER_WORDS: Record<string, string> = {
  zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10',
};

export interface ConceptToken {
  /** Canonical concept key: synonym-mapped Porter stem. */
  concept: string;
  /** The word as written (lowercased), for explanations. */
  surface: string;
  /** Position in the token stream, for evidence extraction. */
  index: number;
  negated: boolean;
}

// Function words of the scripts written without spaces (their words come from Intl.Segmenter):
// Chinese particles and connectives. Japanese ones are hiragana-only tokens of one or two
// characters (の, が, から, する…), see isFunctionWord.
const CJK_STOP_WORDS = new Set('的 了 是 在 与 也 就 都 而 及 被 把 之 着 過 过 吗 嗎 呢 吧 啊 使 让 讓 会 會 得 地 很 这 這 那 个 個'.split(' '));
const HIRAGANA_ONLY = /^\p{Script=Hiragana}{1,2}$/u;

// Clause punctuation, as tokens: ASCII (full-width forms arrive here as ASCII, NFKC), the
// ideographic comma and full stop, Arabic comma, semicolon and question mark, Devanagari dandas.
const PUNCTUATION = /^[.,;:!?()。、،؛؟।॥]$/u;
// Scripts written without spaces between words: such a run of letters is split by Intl.Segmenter
// (ICU's dictionaries), not taken as one word.
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
// A fixed locale: segmentation must not depend on the host's LANG.
const segmenter = new Intl.Segmenter('und', { granularity: 'word' });
// French and Italian elision: the word is after the apostrophe ("l'eau", "s'évapore", "dell'acqua");
// not for English endings ("D's wire", "we'll").
const ELIDED = new Set(['l', 'd', 's', 'n', 'j', 'm', 't', 'c', 'qu', 'jusqu', 'lorsqu', 'puisqu', 'quoiqu', 'dell', 'nell', 'all', 'dall', 'sull', 'un']);
const ENGLISH_ENDINGS = new Set(['s', 're', 've', 'll', 'd', 'm', 't']);
const elided = (head: string, tail: string): boolean => ELIDED.has(head) && !ENGLISH_ENDINGS.has(tail);

/**
 * Lowercase, NFKC-normalised word tokens; keeps "n't" as its own token for negation scope.
 * Words are letters, marks and digits of any script (invisible format characters such as ZWNJ
 * or a soft hyphen dropped); runs of Chinese, Japanese, Thai, Lao, Khmer or Myanmar are split
 * into words by Intl.Segmenter. Accents are kept here (they are the learner's words, shown back
 * as such): canonicalConcept folds them.
 */
export function tokenize(text: string): string[] {
  // An acute accent or a prime typed for the apostrophe ("don´t", common on European keyboards;
  // NFKC would make the accent a space and a combining mark) is one between letters.
  // (Each looked for only where its character occurs: most answers have neither.)
  if (ACCENT_OR_PRIME.test(text)) text = text.replace(ACCENT_OR_PRIME_APOSTROPHE, "'");
  let t = text.normalize('NFKC').toLowerCase().replace(/[\u2018\u2019\u02bc`]/g, "'");
  // A double quote for the apostrophe of n't ("don"t": SemEval's answers write them so).
  if (t.includes('"')) t = t.replace(/(?<=\p{L}n)"(?=t(?![\p{L}\p{M}\p{N}]))/gu, "'");
  if (!ASCII_ONLY.test(t)) t = t.replace(/\p{Cf}/gu, '');
  const out: string[] = [];
  for (const m of t.matchAll(/[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}]+)?|[.,;:!?()。、،؛؟।॥]/gu)) {
    const w = m[0];
    if (w.endsWith("n't")) {
      const head = w.slice(0, -3);
      if (head) out.push(head === 'ca' ? 'can' : head === 'wo' ? 'will' : head);
      out.push("n't");
    } else if (w.includes("'")) {
      const head = w.slice(0, w.indexOf("'"));
      const tail = w.slice(head.length + 1);
      out.push(elided(head, tail) ? tail : head);
    } else out.push(...splitUnspaced(w));
  }
  return out;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const ACCENT_OR_PRIME = /[\u00b4\u2032]/;
const ACCENT_OR_PRIME_APOSTROPHE = /(?<=\p{L})[\u00b4\u2032](?=\p{L})/gu;

/** A run of letters as words: itself, or, in a script written without spaces, the words Intl.Segmenter finds in it. */
export function splitUnspaced(run: string): string[] {
  if (!UNSPACED.test(run)) return [run];
  const out: string[] = [];
  for (const s of segmenter.segment(run)) if (s.isWordLike) out.push(s.segment);
  return out;
}

/**
 * What a word is compared by, across the ways learners type it: Latin, Greek and Cyrillic
 * accents, Arabic vowel marks and tatweel, Hebrew points dropped ("évapore" = "evapore",
 * "ё" = "е"), ß as ss, Turkish dotless ı as i, and decimal digits of any script as ASCII ("٣" = "3").
 * Devanagari and other Indic vowel signs are letters of the word and stay.
 */
export function foldWord(word: string): string {
  if (ASCII_ONLY.test(word)) return word;
  return word
    .normalize('NFD')
    .replace(/[\u0300-\u036f\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u0640]/g, '')
    .replace(/ß/g, 'ss')
    .replace(/ı/g, 'i')
    .replace(/\p{Nd}/gu, asciiDigit)
    .normalize('NFC');
}

// Unicode encodes every decimal digit set as ten consecutive code points from its zero.
function asciiDigit(d: string): string {
  let cp = d.codePointAt(0)!;
  let n = 0;
  while (/\p{Nd}/u.test(String.fromCodePoint(cp - 1))) {
    cp--;
    n++;
  }
  return String(n % 10);
}

// Stemming is most of extracting concepts, and words repeat across answers.
const canonicalCache = new Map<string, string>();

export function canonicalConcept(word: string): string {
  let c = canonicalCache.get(word);
  if (c === undefined) {
    if (canonicalCache.size > 100_000) canonicalCache.clear();
    // own keys only: a student's "constructor" must not read Object.prototype
    const folded = foldWord(word);
    const w = Object.hasOwn(NUMBER_WORDS, folded) ? NUMBER_WORDS[folded]! : folded;
    const stem = porterStem(w);
    c = SYNONYMS.get(w) ?? SYNONYMS.get(stem) ?? stem;
    canonicalCache.set(word, c);
  }
  return c;
}

const isNegator = (w: string): boolean => NEGATORS.has(w) || NEGATORS.has(foldWord(w)) || APOSTROPHELESS_NEGATIONS.test(w);
const isFunctionWord = (w: string): boolean => STOP_WORDS.has(foldWord(w)) || CJK_STOP_WORDS.has(w) || HIRAGANA_ONLY.test(w);

/**
 * Content concepts of a text with their polarity. A concept within
 * NEGATION_WINDOW content-bearing tokens after a negator (and before a clause
 * break) is negated, so "the water did not evaporate" yields evaporate⁻.
 */
export function extractConcepts(text: string): ConceptToken[] {
  const tokens = tokenize(text);
  const out: ConceptToken[] = [];
  let negLeft = 0;
  // Where the current clause's concepts start in `out`, and whether it has had a negator.
  let clauseStart = 0;
  let clauseNegated = false;
  for (let i = 0; i < tokens.length; i++) {
    const w = tokens[i]!;
    if (PUNCTUATION.test(w) || SCOPE_BREAKERS.has(w)) {
      negLeft = 0;
      clauseStart = out.length;
      clauseNegated = false;
      continue;
    }
    const postVerbal = POST_VERBAL_NEGATORS.has(w);
    if (postVerbal || isNegator(w)) {
      const prev = out[out.length - 1];
      if (postVerbal && !clauseNegated && prev && out.length > clauseStart && !prev.negated) out[out.length - 1] = { ...prev, negated: true };
      clauseNegated = true;
      negLeft = NEGATION_WINDOW;
      continue;
    }
    if (ONE_WORD_NEGATORS.has(w)) {
      clauseNegated = true;
      negLeft = Math.max(negLeft, 1);
      continue;
    }
    // "go up"/"go down" are the everyday forms of increase/decrease.
    if ((w === 'up' || w === 'down') && i > 0 && /^(go|goes|went|gone|going|gets?|got)$/.test(tokens[i - 1]!)) {
      const prev = out[out.length - 1];
      const concept = canonicalConcept(w === 'up' ? 'increase' : 'decrease');
      if (prev && prev.index === i - 1) out.pop();
      out.push({ concept, surface: `${tokens[i - 1]} ${w}`, index: i, negated: negLeft > 0 });
      if (negLeft > 0) negLeft--;
      continue;
    }
    if (isFunctionWord(w)) continue;
    const concept = canonicalConcept(w);
    if (!concept) continue;
    out.push({ concept, surface: w, index: i, negated: negLeft > 0 });
    if (negLeft > 0) negLeft--;
  }
  return out;
}

/** Edit distance ≤ limit (with transposition), early-exit; for typo-tolerant concept matching. */
export function withinEditDistance(a: string, b: string, limit: number): boolean {
  if (Math.abs(a.length - b.length) > limit) return false;
  if (a === b) return true;
  const n = a.length;
  const m = b.length;
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: m + 1 }, (_, j) => j);
  for (let i = 1; i <= n; i++) {
    const cur: number[] = [i];
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return false;
    prev2 = prev;
    prev = cur;
  }
  return prev[m]! <= limit;
}
