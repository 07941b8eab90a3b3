// Invisible characters that are part of writing, not a disguise: the zero-width joiner inside an
// emoji sequence (👩🏽‍🎓, 👨‍👩‍👧), the zero-width (non-)joiner between letters of a script that
// needs it (Persian "می‌خواهم", Devanagari, Arabic; not between Latin, Greek or Cyrillic letters,
// where it would hide a word from the injection rules), and left-to-right / right-to-left marks
// in a text with Arabic or Hebrew letters, where phones insert them.
const EMOJI_BEFORE = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F]/u;
const EMOJI_AFTER = /\p{Extended_Pictographic}/u;
const LETTER = /[\p{L}\p{M}]/u;
const LATIN_LIKE = /[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}]/u;
const RTL = /[\p{Script=Arabic}\p{Script=Hebrew}\p{Script=Syriac}\p{Script=Thaana}]/u;

/** Is the character at `at` of `text` (U+200C-U+200F) an orthographic one, as above? */
export function isOrthographicJoiner(text: string, at: number): boolean {
  const c = text[at];
  const before = text.codePointAt(at - 1) !== undefined ? charBefore(text, at) : '';
  const after = text.codePointAt(at + 1) !== undefined ? String.fromCodePoint(text.codePointAt(at + 1)!) : '';
  if (c === '\u200D' && EMOJI_BEFORE.test(before) && EMOJI_AFTER.test(after)) return true;
  if ((c === '\u200C' || c === '\u200D') && LETTER.test(before) && LETTER.test(after)) return !LATIN_LIKE.test(before) && !LATIN_LIKE.test(after);
  if (c === '\u200E' || c === '\u200F') return RTL.test(text);
  return false;
}

// The whole character before `at` (a surrogate pair read from its low half).
function charBefore(text: string, at: number): string {
  const low = text.charCodeAt(at - 1);
  if (low >= 0xdc00 && low <= 0xdfff && at >= 2) return text.slice(at - 2, at);
  return text[at - 1]!;
}

/** `text` without its orthographic joiners and marks: what is left is invisible on purpose. */
export function withoutOrthographicJoiners(text: string): string {
  return text.replace(/[\u200C-\u200F]/g, (c, at: number) => (isOrthographicJoiner(text, at) ? '' : c));
}
