// An answer with nothing for a model to read: whitespace (the ideographic space included) and
// invisible characters only: format characters (zero-width spaces, BOMs, bidi marks), variation
// selectors and the combining grapheme joiner, and the blank letters Korean and braille keyboards
// type (Hangul fillers, braille blank). The rules grade it (the lowest level of every criterion);
// a model call would pay for a whole grading prompt to say the same. Emoji and punctuation are
// not blank, in any script ("🤷", "？？？" are answers, as "???" is).
export const isBlankAnswer = (answer: string): boolean => /^[\s\p{Cf}\u034f\ufe00-\ufe0f\u{e0100}-\u{e01ef}\u115f\u1160\u3164\uffa0\u2800]*$/u.test(answer);
