import { canonicalConcept } from './concept-extractor.js';

/**
 * Opposites that school science answers hinge on, written by hand from general
 * science vocabulary (not fitted to any data set). An answer that asserts the
 * opposite of a reference concept contradicts it rather than merely missing it.
 */
const ANTONYM_PAIRS: ReadonlyArray<readonly [string, string]> = [
  ['increase', 'decrease'],
  ['open', 'close'],
  ['series', 'parallel'],
  ['attract', 'repel'],
  ['positive', 'negative'],
  ['conductor', 'insulator'],
  ['same', 'different'],
  ['fast', 'slow'],
  ['big', 'small'],
  ['heat', 'cold'],
  ['absorb', 'reflect'],
  ['solid', 'liquid'],
  ['push', 'pull'],
  ['start', 'stop'],
  ['true', 'false'],
  ['right', 'wrong'],
  ['connect', 'separate'],
  ['inside', 'outside'],
  ['high', 'low'],
];

const ANTONYMS: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  for (const [a, b] of ANTONYM_PAIRS) {
    const ca = canonicalConcept(a);
    const cb = canonicalConcept(b);
    if (ca !== cb) {
      m.set(ca, cb);
      m.set(cb, ca);
    }
  }
  return m;
})();

/** The canonical opposite of a canonical concept, if the lexicon has one. */
export const antonymOf = (concept: string): string | undefined => ANTONYMS.get(concept);
