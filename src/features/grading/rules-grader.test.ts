import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { extractConcepts, tokenize } from './concept-extractor.js';
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

describe('negation in English answers', () => {
  // A circuit question whose reference asserts what the answers below deny.
  const cq = 'Why does bulb A light?';
  const cref = 'Bulb A is in a closed path with the battery, so current flows through it and it lights.';
  const crubric = defaultRubric(cq, cref);
  const cgrade = (answer: string) => rulesGrade({ rubric: crubric, question: cq, answer, referenceAnswers: [cref] });
  const negatedOf = (text: string, concept: string) => extractConcepts(text).find((c) => c.concept === concept)?.negated;

  it('sees the negation after the auxiliary or copula, contracted or not, and never, no longer', () => {
    for (const s of ['the current does not flow', "the current doesn't flow", 'the current doesnt flow', "the current won't flow", 'the current never flows', 'the current no longer flows']) {
      expect(negatedOf(s, 'flow'), s).toBe(true);
    }
    for (const s of ['it is not a conductor', "it isn't a conductor", 'it isnt a conductor']) expect(negatedOf(s, 'conductor'), s).toBe(true);
    const right = cgrade('Bulb A is in a closed path with the battery, so current flows through it and it lights.');
    expect(right.score).toBe(right.maxScore);
    expect(cgrade('Bulb A is not in a closed path with the battery, so current does not flow through it and it does not light.').score).toBe(0);
  });

  it('reads an apostrophe typed as a double quote, an acute accent or a prime in a negation ("don"t", "don´t", "don′t")', () => {
    // SemEval's answers write n't as n"t; European keyboards put the acute accent where the apostrophe is.
    for (const s of ['the bulb don"t light', 'the bulb DOESN"T light', 'the bulb don´t light', 'the bulb doesn′t light', 'the bulb isn"t lit']) {
      expect(negatedOf(s, 'light'), s).toBe(true);
    }
    expect(cgrade('current don"t flow through it and it don"t light').matchedConcepts).not.toContain('light');
    // A quoted word stays a word; an accent between letters of a French elision is its apostrophe.
    expect(extractConcepts('he said "don" to the bulb').map((c) => c.surface)).toEqual(['said', 'don', 'bulb']);
    expect(extractConcepts("l´eau s´évapore").map((c) => c.surface)).toEqual(['eau', 'évapore']);
  });

  it('nowhere, hardly, barely and scarcely negate what follows', () => {
    for (const n of ['nowhere', 'hardly', 'barely', 'scarcely']) expect(negatedOf(`the bulb ${n} lights`, 'light'), n).toBe(true);
  });

  it('"non" negates the one word after it ("non-zero", "a non-conductor", Italian "non evapora")', () => {
    expect(extractConcepts('the voltage is non-zero').map((c) => (c.negated ? '¬' : '') + c.concept)).toEqual(['voltag', '¬0']);
    expect(extractConcepts('it is a non-magnetic metal').map((c) => (c.negated ? '¬' : '') + c.concept)).toEqual(['¬magnet', 'metal']);
    expect(negatedOf("l'acqua non evapora", 'evapora')).toBe(true);
    const q = 'Which metal is picked up by the magnet?';
    const ref = 'Iron, because it is magnetic.';
    const g = (answer: string) => rulesGrade({ rubric: defaultRubric(q, ref), question: q, answer, referenceAnswers: [ref] });
    expect(g('Iron is non-magnetic.').matchedConcepts).not.toContain('magnet');
    expect(g('Iron is non-magnetic.').coverage).toBeLessThan(g('Iron is magnetic.').coverage);
  });

  // Words of the reference with no antonym among them, in any order, with function words:
  // an answer made of them contradicts nothing, so a negation can only take credit away.
  const WORDS = ['bulb', 'closed', 'path', 'battery', 'current', 'flows', 'lights', 'the', 'is', 'a', 'in', 'with', 'it'];
  const NEGATORS = ['not', 'never', 'no', "doesn't", 'doesnt', 'don"t', 'don´t', 'nowhere', 'hardly', 'no longer', 'non'];
  it('a negation inserted anywhere in an answer never raises its grade, and before a credited word takes that credit away', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 12 }),
        fc.constantFrom(...NEGATORS),
        fc.nat(),
        (words, negator, at) => {
          const i = at % (words.length + 1);
          const answer = words.join(' ');
          const negated = [...words.slice(0, i), negator, ...words.slice(i)].join(' ');
          const before = cgrade(answer);
          const after = cgrade(negated);
          expect(after.score).toBeLessThanOrEqual(before.score);
          expect(after.similarity).toBeLessThanOrEqual(before.similarity);
          expect(after.coverage).toBeLessThanOrEqual(before.coverage);
          const next = words[i];
          // The word right after the negator, if it is the only occurrence of a credited concept, loses its credit.
          const concept = next === undefined ? undefined : extractConcepts(next)[0]?.concept;
          if (concept && words.filter((w) => extractConcepts(w)[0]?.concept === concept).length === 1 && before.matchedConcepts.includes(concept)) {
            expect(after.matchedConcepts).not.toContain(concept);
            expect(after.coverage).toBeLessThan(before.coverage);
          }
        },
      ),
      { numRuns: 400 },
    );
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

  it('quotes as evidence only sentences holding a matched word, not one with the word inside another ("split" for "lit")', () => {
    const q = 'Why does the bulb light?';
    const ref = 'The bulb is lit because it is in a closed path with the battery.';
    const g = rulesGrade({ rubric: defaultRubric(q, ref), question: q, answer: 'We split the wire in two. The bulb is lit.', referenceAnswers: [ref] });
    expect(g.criteria[0]!.evidence).toEqual(['The bulb is lit.']);
    // A matched word written with a zero-width non-joiner (Persian "می‌کند") is found in its sentence.
    const fa = rulesGrade({ rubric: defaultRubric('چرا آب گرم است؟', 'خورشید آب را گرم می‌کند.'), answer: 'نمی‌دانم. شاید می‌کند.' });
    expect(fa.matchedConcepts).toEqual(['میکند']);
    expect(fa.criteria[0]!.evidence).toEqual(['شاید می‌کند.']);
  });

  it('every evidence sentence holds, as one of its own words, a word the grade matched', () => {
    const piece = fc.constantFrom('water', 'evaporates', 'sun', 'heats', 'vapour', 'split', 'sunny', 'the', 'not', '.', '. ', '! ', '。', '; ', ' ', 'l´eau', 'don"t', '\u200c', 'é', '水');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }).map((xs) => xs.join(' ')), (answer) => {
        const g = grade(answer);
        const matched = new Set(g.matchedConcepts);
        const own = new Set(extractConcepts(answer).filter((c) => !c.negated && matched.has(c.concept)).map((c) => c.surface));
        for (const e of g.criteria[0]!.evidence) expect(tokenize(e).some((w) => own.has(w)), e).toBe(true);
      }),
      { numRuns: 300 },
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

// Learners answer in their own language against a rubric in that language. Each case: a
// correct paraphrase gets full marks, an off-topic answer does not (a tokenizer of [a-z]
// only gave every one of these 0, and French lost every accented word).
describe('answers in other languages', () => {
  const cases: Array<{ lang: string; q: string; ref: string; right: string; wrong: string }> = [
    { lang: 'fr', q: 'Pourquoi la flaque disparaît-elle ?', ref: "L'eau s'évapore à cause de la chaleur du soleil.", right: "L'eau s'évapore grâce à la chaleur du soleil.", wrong: "J'aime la pizza." },
    { lang: 'zh', q: '为什么水坑会消失？', ref: '太阳的热量使水蒸发，变成水蒸气。', right: '因为太阳的热量让水蒸发了，变成了水蒸气。', wrong: '水坑里有鱼。' },
    { lang: 'ja', q: '水たまりはなぜ消えるのですか？', ref: '太陽の熱で水が蒸発して水蒸気になるからです。', right: '太陽の熱で水が蒸発するから。', wrong: '雨が好きです。' },
    { lang: 'ru', q: 'Почему лужа исчезает?', ref: 'Вода испаряется из-за тепла солнца.', right: 'Вода испаряется от тепла солнца.', wrong: 'Я люблю пиццу.' },
    { lang: 'ar', q: 'لماذا تختفي البركة؟', ref: 'يتبخر الماء بسبب حرارة الشمس.', right: 'الماء يتبخر بسبب حرارة الشمس', wrong: 'أحب البيتزا.' },
    { lang: 'hi', q: 'पोखर क्यों गायब होता है?', ref: 'सूरज की गर्मी से पानी भाप बन जाता है।', right: 'सूरज की गर्मी से पानी भाप बनता है।', wrong: 'मुझे पिज़्ज़ा पसंद है।' },
    { lang: 'ko', q: '물웅덩이는 왜 사라지나요?', ref: '태양의 열 때문에 물이 증발합니다.', right: '태양의 열 때문에 물이 증발합니다.', wrong: '피자를 좋아해요.' },
  ];
  const gradeIn = (c: (typeof cases)[number], answer: string) => rulesGrade({ rubric: defaultRubric(c.q, c.ref), answer });

  it.each(cases)('$lang: a correct answer gets full marks, an off-topic one none', (c) => {
    const right = gradeIn(c, c.right);
    expect(right.score).toBe(right.maxScore);
    expect(right.criteria[0]!.evidence.length).toBeGreaterThan(0);
    for (const e of right.criteria[0]!.evidence) expect(c.right).toContain(e);
    expect(gradeIn(c, c.wrong).score).toBe(0);
  });

  it('a negation before the verb counts, as in English (French, Spanish, Chinese)', () => {
    const fr = cases[0]!;
    const zh = cases[1]!;
    expect(gradeIn(fr, "L'eau ne s'évapore pas.").coverage).toBeLessThan(gradeIn(fr, "L'eau s'évapore.").coverage);
    expect(gradeIn(zh, '水没有蒸发。').coverage).toBeLessThan(gradeIn(zh, '水蒸发了。').coverage);
    const es = { lang: 'es', q: '¿Por qué desaparece el charco?', ref: 'El agua se evapora por el calor del sol.', right: '', wrong: '' };
    expect(gradeIn(es, 'El agua no se evapora.').matchedConcepts).not.toContain('evapora');
  });

  it('a negation after the verb counts: French "pas"/"jamais" without "ne" or after an elided "n\'", German "nicht"', () => {
    const fr = cases[0]!;
    const positive = gradeIn(fr, "L'eau s'évapore à cause de la chaleur du soleil.");
    for (const neg of ["L'eau s'évapore pas à cause de la chaleur du soleil.", "L'eau s'évapore jamais à cause de la chaleur du soleil."]) {
      const g = gradeIn(fr, neg);
      expect(g.matchedConcepts, neg).not.toContain('evapor');
      expect(g.coverage, neg).toBeLessThan(positive.coverage);
    }
    const hot = (t: string) => extractConcepts(t).find((c) => c.concept === 'chaud')?.negated;
    expect(hot("L'eau n'est pas chaude.")).toBe(true);
    expect(hot("L'eau est chaude.")).toBe(false);
    const de = { lang: 'de', q: 'Warum verschwindet die Pfütze?', ref: 'Das Wasser verdunstet wegen der Wärme der Sonne.', right: '', wrong: '' };
    const yes = gradeIn(de, 'Das Wasser verdunstet wegen der Wärme der Sonne.');
    const no = gradeIn(de, 'Das Wasser verdunstet nicht, die Sonne ist zu schwach.');
    expect(no.matchedConcepts).not.toContain('verdunstet');
    expect(no.coverage).toBeLessThan(yes.coverage);
    // "ne … pas" stays one negation; a clause break ends it.
    expect(extractConcepts("L'eau ne s'évapore pas, mais elle gèle.").map((c) => (c.negated ? '¬' : '') + c.concept)).toEqual(['eau', '¬evapor', 'ell', 'gele']);
  });

  it('the same answer typed decomposed (NFD), without its accents or in full-width forms gets the same grade', () => {
    const fr = cases[0]!;
    const nfc = gradeIn(fr, fr.right);
    const nfd = gradeIn(fr, fr.right.normalize('NFD'));
    expect(nfd.score).toBe(nfc.score);
    expect(nfd.coverage).toBe(nfc.coverage);
    expect(nfd.criteria[0]!.evidence).toEqual([fr.right.normalize('NFD')]);
    expect(gradeIn(fr, "L'eau s'evapore grace a la chaleur du soleil.").coverage).toBe(nfc.coverage);
    const vi = { lang: 'vi', q: 'Vì sao vũng nước biến mất?', ref: 'Nước bốc hơi do sức nóng của mặt trời.', right: '', wrong: '' };
    expect(gradeIn(vi, 'Nuoc boc hoi do suc nong cua mat troi.').score).toBe(gradeIn(vi, vi.ref).score);
    const zh = cases[1]!;
    expect(gradeIn(zh, '太阳的热量让水蒸发了,变成了水蒸气.').coverage).toBe(gradeIn(zh, zh.right).coverage);
    expect(extractConcepts('ＷＡＴＥＲ ٣ ३').map((c) => c.concept)).toEqual(['water', '3', '3']);
  });

  it('quotes a sentence of a Chinese answer as evidence, not the whole answer, and never cuts a character', () => {
    const zh = cases[1]!;
    const g = gradeIn(zh, '我喜欢下雨天。太阳的热量让水蒸发了。');
    expect(g.criteria[0]!.evidence).toEqual(['太阳的热量让水蒸发了。']);
    const long = `${'🙂'.repeat(99)}a${'🙂'.repeat(20)} water evaporates.`;
    const ev = grade(long).criteria[0]!.evidence[0]!;
    expect(ev.length).toBeLessThanOrEqual(200);
    expect(ev).toBe(`${'🙂'.repeat(99)}a`);
    expect(ev).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});
