// An answer with nothing for a model to read: whitespace and invisible format characters
// (zero-width spaces, BOMs) only. The rules grade it (the lowest level of every criterion);
// a model call would pay for a whole grading prompt to say the same.
export const isBlankAnswer = (answer: string): boolean => /^[\s\p{Cf}]*$/u.test(answer);
