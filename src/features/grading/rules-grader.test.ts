import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { extractConcepts } from './concept-extractor.js';
import { defaultRubric, loadRubricsYaml, maxScore } from './rubric.schema.js';
import { rulesGrade } from './rules-grader.js';
import { sharedNgram } from './grading-output.validator.js';

const question = 'A puddle is left in the sun. What happens to the water?';
const reference = 'The water evaporates because the sun heats it and it turns into water vapour.';
const rubric = defaultRubric(question, reference);
const grade = (answer: string) => rulesGrade({ rubric, question, answer, referenceAnswers: [reference] });

describe('concept extraction', () => {
  it('marks concepts under a negation as negated, until a clause break', () => {
    const c = extractConcepts("The water didn't evaporate but it got colder");
    expect(c.find((x) => x.concept === 'evapor')?.negated).toBe(true);
    expect(c.find((x) => x.concept === 'water')?.negated).toBe(false);
    expect(c.find((x) => x.surface === 'colder')?.negated).toBe(false);
  });
});

describe('rulesGrade', () => {
  it('full marks for a paraphrase of the reference', () => {
    const g = grade('The heat from the sun makes the water evaporate into vapor.');
    expect(g.score).toBe(g.maxScore);
    expect(g.criteria[0]!.evidence.length).toBeGreaterThan(0);
  });

  it('a negated statement does not match the positive concept', () => {
    const pos = grade('The water evaporates.');
    const neg = grade('The water did not evaporate.');
    expect(neg.matchedConcepts).not.toContain('evapor');
    expect(neg.missingConcepts).toContain('evapor');
    expect(neg.coverage).toBeLessThan(pos.coverage);
    expect(neg.score).toBeLessThan(pos.score);
  });

  it('repeating the question earns less than adding the missing science', () => {
    const parrot = grade('The puddle is left in the sun and the water is in the sun.');
    const science = grade('It evaporates and turns into vapour.');
    expect(parrot.coverage).toBeLessThan(science.coverage);
  });

  it('tolerates a typo in a long word', () => {
    expect(grade('the water evaparates').matchedConcepts).toContain('evapor');
  });

  it('an unrelated answer scores zero with useful feedback', () => {
    const g = grade('I like pizza.');
    expect(g.score).toBe(0);
    expect(g.feedback.improve.length).toBeGreaterThan(0);
    expect(g.feedback.nextStep).not.toBe('');
  });

  it('is deterministic and internally consistent for any input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (answer) => {
        const a = grade(answer);
        const b = grade(answer);
        expect(a).toEqual(b);
        expect(a.maxScore).toBe(maxScore(rubric));
        expect(a.score).toBe(a.criteria.reduce((s, c) => s + c.points, 0));
        expect(a.coverage).toBeGreaterThanOrEqual(0);
        expect(a.coverage).toBeLessThanOrEqual(1);
        expect(a.confidence).toBeGreaterThan(0);
        expect(a.confidence).toBeLessThanOrEqual(1);
        for (const e of a.criteria.flatMap((c) => c.evidence)) expect(answer).toContain(e);
      }),
      { numRuns: 200 },
    );
  });

  it('feedback never repeats the reference answer verbatim', () => {
    for (const answer of ['', 'water', reference, 'The water did not evaporate', 'the sun heats the puddle']) {
      const g = grade(answer);
      for (const text of [...g.feedback.strengths, ...g.feedback.improve, g.feedback.nextStep]) {
        expect(sharedNgram(text, reference, 5)).toBeUndefined();
      }
    }
  });

  it('grades each criterion of a multi-criterion demo rubric on its own content', () => {
    const [demo] = loadRubricsYaml(readFileSync(join(import.meta.dirname, 'demo-rubrics', 'evaporation.yaml'), 'utf8'));
    const g = rulesGrade({ rubric: demo!, answer: 'The sun heats the water and gives it energy so it evaporates into water vapour.' });
    expect(g.criteria.map((c) => c.criterionId)).toEqual(['process', 'cause']);
    expect(g.score).toBe(g.maxScore);
    const weak = rulesGrade({ rubric: demo!, answer: 'It soaked into the ground.' });
    expect(weak.score).toBeLessThan(g.score);
  });

  it('an antonym of a reference concept counts as a contradiction, not just a gap', () => {
    const q = 'What happens to the current when you add a second bulb in series?';
    const ref = 'The current through each bulb decreases.';
    const r = defaultRubric(q, ref);
    const g = (answer: string) => rulesGrade({ rubric: r, question: q, answer, referenceAnswers: [ref] });
    const opposite = g('The current through each bulb increases.');
    const silent = g('The current through each bulb changes.');
    expect(opposite.feedback.improve.join(' ')).toMatch(/opposite way/);
    expect(opposite.coverage).toBeLessThanOrEqual(silent.coverage);
  });

  it('unlabelled peer answers shift the similarity by how easily the question is echoed', () => {
    const answer = 'The water evaporates into vapour.';
    const echoing = Array.from({ length: 8 }, (_, i) => `the water evaporates and turns into vapour ${i}`);
    const offTopic = Array.from({ length: 8 }, (_, i) => `I like pizza number ${i}`);
    const alone = grade(answer);
    const easy = rulesGrade({ rubric, question, answer, referenceAnswers: [reference], peerAnswers: echoing });
    const hard = rulesGrade({ rubric, question, answer, referenceAnswers: [reference], peerAnswers: offTopic });
    expect(easy.similarity).toBeLessThan(hard.similarity);
    expect(easy.coverage).toBe(alone.coverage);
    // Too few peers: no shift.
    expect(rulesGrade({ rubric, question, answer, referenceAnswers: [reference], peerAnswers: echoing.slice(0, 2) }).similarity).toBe(alone.similarity);
  });

  it('uses graded anchors: an answer like a correct anchor is pulled up', () => {
    const withAnchors = {
      ...rubric,
      anchors: [
        { answer: 'it dries up into the air', levels: { correctness: 'correct' } },
        { answer: 'it dries up into the air as a gas', levels: { correctness: 'correct' } },
        { answer: 'it soaks into the ground', levels: { correctness: 'incorrect' } },
      ],
    };
    const plain = grade('it dries up into the air');
    const anchored = rulesGrade({ rubric: withAnchors, question, answer: 'it dries up into the air', referenceAnswers: [reference] });
    expect(anchored.similarity).toBeGreaterThan(plain.similarity);
  });

  // What the grader remembers about a rubric (its analysed references, criteria, anchor
  // fractions and cutoffs) must never carry over to a rubric, question or weight it was
  // not worked out for: each grade equals one made on fresh copies, which share nothing.
  it('grades as on fresh copies when rubrics share criteria, and when the params change between grades', () => {
    const anchors = (correct: string[], incorrect: string[]) => [
      ...correct.map((answer) => ({ answer, levels: { correctness: 'correct' } })),
      ...incorrect.map((answer) => ({ answer, levels: { correctness: 'incorrect' } })),
    ];
    // Like the folds of the evaluation: the same criteria objects, different anchors.
    const foldA = { ...rubric, anchors: anchors(['it dries up into the air', 'the heat turns it to vapour'], ['it soaks into the ground']) };
    const foldB = { ...rubric, anchors: anchors(['it soaks away into the soil'], ['it dries up into the air', 'it turns into vapour']) };
    const answers = ['it dries up into the air', 'The water evaporates into vapour.', 'it soaks into the ground', 'nothing happens'];
    const other = 'Why does water vapour form when the water heats up?';
    const cases = [
      { r: foldA, q: question, params: {} },
      { r: foldB, q: question, params: {} },
      { r: foldA, q: question, params: { questionWeight: 0.9 } },
      { r: foldA, q: other, params: {} },
      { r: foldB, q: question, params: { anchorK: 1 } },
      { r: foldA, q: question, params: {} },
    ];
    const grades = (fresh: boolean) =>
      cases.flatMap(({ r, q, params }, i) =>
        answers.map((answer, j) =>
          // A copied rubric and a question string not seen before (the same words, other
          // spacing) share no remembered analysis with anything.
          fresh
            ? rulesGrade({ rubric: structuredClone(r), question: q + ' '.repeat(1 + i * answers.length + j), answer, referenceAnswers: [reference], params })
            : rulesGrade({ rubric: r, question: q, answer, referenceAnswers: [reference], params }),
        ),
      );
    expect(grades(false)).toEqual(grades(true));
    // And the two folds do disagree somewhere, or the comparison above proves little.
    const a = rulesGrade({ rubric: foldA, question, answer: answers[0]!, referenceAnswers: [reference] });
    const b = rulesGrade({ rubric: foldB, question, answer: answers[0]!, referenceAnswers: [reference] });
    expect(a.similarity).not.toBe(b.similarity);
  });
});

describe('words that name Object.prototype members', () => {
  it('are ordinary words to the concept extractor', () => {
    const concepts = extractConcepts('The constructor said valueof and hasownproperty twice.').map((c) => c.concept);
    expect(concepts.every((c) => typeof c === 'string')).toBe(true);
    expect(concepts).toContain('constructor');
  });
});
