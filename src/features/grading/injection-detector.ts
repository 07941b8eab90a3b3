import { withoutOrthographicJoiners } from './orthographic-joiners.js';
export interface InjectionReport {
  flagged: boolean;
  signals: string[];
}

// Zero-width, soft hyphen, word joiners, BOM, bidi embeddings/overrides/isolates, tag characters.
const INVISIBLE = /[\u200B-\u200F\u00AD\u2060-\u2064\uFEFF\u180E]|[\u{E0000}-\u{E007F}]/gu;
const BIDI = /[\u202A-\u202E\u2066-\u2069]/gu;
const FULLWIDTH_LATIN = /[\uFF21-\uFF3A\uFF41-\uFF5A]/u;
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

// Cyrillic and Greek letters that render like Latin ones. Folding them lets the
// English patterns see "іgnоrе" (Cyrillic і, о, е) as "ignore".
const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', с: 'c', е: 'e', ё: 'e', һ: 'h', і: 'i', ї: 'i', ј: 'j', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p',
  т: 't', у: 'y', х: 'x', ѕ: 's', ԁ: 'd', ԛ: 'q', ԝ: 'w', ɡ: 'g', ո: 'n', ս: 'u',
  α: 'a', β: 'b', ε: 'e', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', γ: 'y',
};
const foldConfusables = (s: string): string => s.replace(/[\u0370-\u03FF\u0400-\u04FF\u0500-\u052F\u0261\u0578\u057D]/g, (c) => CONFUSABLES[c] ?? c);
const stripDiacritics = (s: string): string => s.normalize('NFD').replace(/\p{M}+/gu, '');

type Rule = readonly [signal: string, pattern: RegExp];

// English rules run on the folded, diacritic-free view; a rule must name an
// instruction-like act, not just a topic word, to keep science answers clean
// ("the copper acts as a conductor" must pass).
const ENGLISH: readonly Rule[] = [
  ['ignore-instructions', /\b(ignore|disregard|forget|skip|override|bypass|discard|drop)\b[^.!?\n]{0,40}\b(instructions?|rules?|prompts?|directions?|guidelines?|rubric|context|messages?|constraints?|criteria)\b/],
  ['ignore-instructions', /\b(new|updated|real|actual|revised|following)\s+(system\s+)?(instructions?|rules|task|directive)\s*[:!]/],
  ['ignore-instructions', /\bfrom now on\b|\binstead of grading\b|\bdo not grade\b|\bstop grading\b/],
  ['role-play', /\byou are (now|no longer) (a|an|the|my|in|free|unrestricted|allowed|\w*bot|dan)\b|\byou('| a)re (a|an|the|my) (grader|teacher|examiner|assistant|ai|language model|chatbot|bot)\b/],
  ['role-play', /\b(act|behave|respond|answer|speak|reply) as (if you (were|are) )?(an? |the |my )?(grader|teacher|examiner|assistant|ai|model|system|dan|admin|administrator|developer|jailbroken|unrestricted)\b/],
  ['role-play', /\bpretend (to be|you are|that you)\b|\brole ?-?play\b|\bas (the|an?|your) (grader|examiner|teacher|marker|ai|assistant|system)\b[^.!?\n]{0,30}\b(you|must|should|will|give|award|mark)\b/],
  ['role-play', /\b(developer|god|admin|jailbreak|dan) mode\b/],
  ['fake-marker', /(^|\n)\s*#*\s*\[?(system|assistant|user|human|developer|grader|rubric|instructions?|teacher|admin)\]?\s*(message|prompt|note|update|override)?\s*:/],
  ['fake-marker', /\[\/?(inst|system|sys|assistant|user)\]|<<\/?sys>>|<\|[a-z_ ]+\|>|\bend of (the )?(student )?(answer|input|data)\b|\bbegin (system|instructions|rubric)\b/],
  ['fake-marker', /\b(rubric|grading (policy|instructions?)|marking scheme)\s+(update|override|change|amendment|note)\b|\bupdated rubric\b/],
  ['grade-request', /\b(give|award|assign|grant|mark|score|grade|rate|put)\b[^.!?\n]{0,30}\b(full|maximum|max|perfect|top|highest|all( the)?|100 ?%?|10 ?\/ ?10|2 ?\/ ?2)\s*(marks?|points?|scores?|credit|grade|%|percent)\b/],
  ['grade-request', /\b(full|maximum|perfect|max) (marks?|score|points|credit)\b|\b100 ?% (score|marks?|credit)\b/],
  ['grade-request', /\b(mark|grade|score|rate|consider|treat)\s+(this|me|my answer|it|the answer)\s+(as\s+)?(correct|right|perfect|excellent|an? a\b)/],
  ['grade-request', /\bthis answer (is|should be) (graded |marked |scored )?(as )?(correct|perfect|fully correct)\b|\blevelid\b|\bcriterionid\b/],
  ['grade-output-json', /[{,]\s*"(score|points|grade|level|levelid|criterionid|criteria|confidence|feedback|marks)"\s*:/],
  ['delimiter-tag', /<\s*\/?\s*(student_answer|studentanswer|answer|question|rubric|system|instructions?|assistant|user|prompt|im_start|im_end)\b[^>]*>/],
  ['delimiter-tag', /<\/\s*[a-z_][\w-]*\s*>/],
  ['exfiltration', /\b(reveal|show|print|repeat|output|tell me|give me|display|leak)\b[^.!?\n]{0,30}\b(system prompt|your (instructions|prompt)|reference answers?|the rubric|answer key|model answer)\b/],
];

// Other languages run on the diacritic-free view (so "instruções" = "instrucoes").
const FOREIGN: readonly Rule[] = [
  // French
  ['foreign-ignore-instructions', /\b(ignor|oubli)(e|ez|er|es)\b[^.!?\n]{0,30}\b(instructions?|consignes?|regles?|directives?)\b/],
  ['foreign-grade-request', /\b(note|notation) (maximale|parfaite|complete|maximum)\b|\btous les points\b|\b20 ?\/ ?20\b|\bdonne[rz]?\b[^.!?\n]{0,20}\b(la note|les points)\b/],
  // Spanish
  ['foreign-ignore-instructions', /\b(ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar)\b[^.!?\n]{0,30}\b(instrucciones|reglas|indicaciones)\b/],
  ['foreign-grade-request', /\b(puntuacion|nota|calificacion) (maxima|completa|perfecta)\b|\btodos los puntos\b|\b(da|dame|dale|otorga|pon|ponle)\b[^.!?\n]{0,20}\b(maxima|maximo|10 ?\/ ?10)\b/],
  // German
  ['foreign-ignore-instructions', /\b(ignorier|ignoriere|ignorieren|vergiss|vergessen|missachte)\w*\b[^.!?\n]{0,30}\b(anweisungen|instruktionen|regeln|vorgaben)\b/],
  ['foreign-grade-request', /\b(volle|maximale|alle) punkt(e|zahl)\b|\bbestnote\b|\bgib\b[^.!?\n]{0,20}\bpunkte\b/],
  // Portuguese
  ['foreign-ignore-instructions', /\b(ignore|ignora|ignorar|esqueca|esquece)\b[^.!?\n]{0,30}\b(instrucoes|regras|orientacoes)\b/],
  ['foreign-grade-request', /\b(nota|pontuacao) (maxima|maximo|total|completa|perfeita)\b|\btodos os pontos\b|\bde\b[^.!?\n]{0,10}\bnota maxima\b/],
  // Italian
  ['foreign-ignore-instructions', /\b(ignora|ignorare|dimentica)\b[^.!?\n]{0,30}\b(istruzioni|regole)\b/],
  ['foreign-grade-request', /\b(punteggio|voto) (massimo|pieno|perfetto)\b/],
  // Russian (Cyrillic, unfolded view)
  ['foreign-ignore-instructions', /(игнорир|забудь|забудьте|не обращай|проигнорир)[^.!?\n]{0,40}(инструкц|указани|правил|промпт)/],
  ['foreign-grade-request', /(максимальн|высш|полн)\S*\s+(балл|оценк)|постав\S*[^.!?\n]{0,20}(пят[её]рк|отлично|максимум)/],
  // Chinese (simplified and traditional), Japanese
  ['foreign-ignore-instructions', /(忽略|无视|無視|忽視|不要理会|不要理會|忘记|忘記)[^。！？\n]{0,10}(指令|指示|说明|說明|规则|規則|提示|命令)|(指示|命令)を無視/],
  ['foreign-grade-request', /满分|滿分|最高分|全部分数|全部分數|満点|给我.{0,4}分|給我.{0,4}分/],
];

const decodeEntities = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (_m, e: string) => {
    const k = e.toLowerCase();
    if (k === 'lt') return '<';
    if (k === 'gt') return '>';
    if (k === 'amp') return '&';
    if (k === 'quot') return '"';
    if (k === 'apos') return "'";
    const code = k[1] === 'x' ? parseInt(k.slice(2), 16) : parseInt(k.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
  });

/** NFKC plus removal of invisible and bidi control characters: what every rule matches on. */
export function normalizeForDetection(text: string): string {
  return text.normalize('NFKC').replace(INVISIBLE, '').replace(BIDI, '');
}

/**
 * Flags instruction-like content in a student answer. A flag does not change
 * the grade by itself: it routes the answer away from the LLM (or to review)
 * and is recorded with the grade.
 */
export function detectInjection(answer: string): InjectionReport {
  const signals = new Set<string>();
  if (INVISIBLE.test(withoutOrthographicJoiners(answer))) signals.add('invisible-characters');
  INVISIBLE.lastIndex = 0;
  if (BIDI.test(answer)) signals.add('bidi-control');
  BIDI.lastIndex = 0;
  // Chinese, Japanese and Korean keyboards type Latin letters full-width ("ＤＮＡ", "ｐＨ"):
  // next to CJK text they are how the learner writes, not a disguise.
  if (FULLWIDTH_LATIN.test(answer) && !CJK.test(answer)) signals.add('fullwidth-text');

  // Entity-encoded markup ("&lt;/student_answer&gt;") is matched as the markup it spells.
  const normalized = decodeEntities(normalizeForDetection(answer)).toLowerCase();
  // A word mixing Latin with Cyrillic/Greek letters is a homoglyph disguise;
  // a wholly Cyrillic or Greek word is just another language.
  for (const w of normalized.match(/[\p{L}]+/gu) ?? []) {
    if (/[a-z]/.test(w) && /[\u0370-\u03FF\u0400-\u052F]/.test(w)) {
      signals.add('homoglyph');
      break;
    }
  }
  const plain = stripDiacritics(normalized);
  const folded = foldConfusables(plain);
  for (const [signal, re] of ENGLISH) if (re.test(folded)) signals.add(signal);
  for (const [signal, re] of FOREIGN) if (re.test(plain)) signals.add(signal);

  const list = [...signals];
  return { flagged: list.length > 0, signals: list };
}
