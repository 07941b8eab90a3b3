// Shared inputs of the load benchmarks (bench/run.ts) and the bench simulator
// (bench/sim-process.ts): rubrics, answers, and the Messages API body the service sends.
import { demoRubrics } from '../src/features/grading/demo-rubrics.js';
import { buildGradingPrompt } from '../src/features/grading/grading-prompt.js';
import { RubricSchema, type Rubric } from '../src/features/grading/rubric.schema.js';
import { messageParams } from '../src/llm/client/message-params.js';
import { DEFAULT_POLICY } from '../src/platform/policy-defaults.js';

export const DEMO_RUBRIC_ID = 'demo-evaporation';

export function demoRubric(id = DEMO_RUBRIC_ID): Rubric {
  const r = demoRubrics().find((x) => x.id === id);
  if (!r) throw new Error(`demo rubric ${id} not found`);
  return r;
}

// A class-sized rubric (three criteria, twelve graded anchors), the kind a teacher uses
// to grade a whole class set. With the grading instructions it is a prefix above the
// 1,024-token minimum for prompt caching, unlike the small demo rubrics.
const ANCHORS: Array<[string, string, string, string]> = [
  ['The sun heated the puddle, the water molecules got energy and escaped into the air as water vapour, which is evaporation.', 'full', 'full', 'full'],
  ['It evaporated because the sun made it hot, and now it is water vapour in the air around us.', 'full', 'full', 'partial'],
  ['The water went up into the sky to make clouds because of the heat.', 'partial', 'partial', 'partial'],
  ['Evaporation. The liquid water became a gas.', 'full', 'none', 'full'],
  ['The sun dried it up.', 'partial', 'partial', 'none'],
  ['The ground soaked it all up like a sponge.', 'none', 'none', 'none'],
  ['Heat from sunlight gave the particles enough energy to leave the surface, so the liquid turned into an invisible gas.', 'full', 'full', 'full'],
  ['The water boiled away because the sun is very hot.', 'partial', 'partial', 'partial'],
  ['Someone must have cleaned it with a mop.', 'none', 'none', 'none'],
  ['It turned into vapour. Wind also helps it go faster.', 'full', 'none', 'partial'],
  ['The water evaporated and condensed into rain later.', 'full', 'none', 'partial'],
  ['The sun warms the water; the fastest molecules escape first, so the puddle shrinks until it is gone.', 'full', 'full', 'full'],
];

/**
 * The class rubric (12 anchors), and a course rubric: the same criteria calibrated with 84
 * graded anchors, whose prompt prefix passes Claude Haiku 4.5's 4,096-token minimum for
 * prompt caching (the class rubric's does not).
 */
export function benchRubrics(): Rubric[] {
  const [cls] = classRubrics();
  const course = RubricSchema.parse({
    ...cls,
    id: 'bench-evaporation-course',
    title: 'Evaporation of a puddle (course set, 84 graded anchors)',
    anchors: Array.from({ length: 7 }, (_, k) => ANCHORS.map(([answer, process, cause, vocabulary]) => ({ answer: `${answer} (sample ${k + 1} from section ${String.fromCharCode(65 + k)})`, levels: { process, cause, vocabulary } }))).flat(),
  });
  return [cls!, course];
}

function classRubrics(): Rubric[] {
  return [
    RubricSchema.parse({
      id: 'bench-evaporation-class',
      version: 1,
      title: 'Evaporation of a puddle (class set, with anchors)',
      question: 'A puddle of water is left in the sun. After a few hours it is gone. Explain what happened to the water, and why.',
      criteria: [
        {
          id: 'process',
          name: 'Names the process',
          description: 'Identifies evaporation: liquid water turning into water vapour, a gas that mixes into the air. Boiling is not the process at everyday temperatures.',
          levels: [
            { id: 'full', points: 2, descriptor: 'Names evaporation, or clearly describes liquid water becoming water vapour or a gas in the air.' },
            { id: 'partial', points: 1, descriptor: 'Says the water went into the air, dried up or went to the clouds, without naming evaporation or vapour; or says it boiled.' },
            { id: 'none', points: 0, descriptor: 'A wrong process (soaked away only, someone removed it) or no process.' },
          ],
        },
        {
          id: 'cause',
          name: 'Explains the cause',
          description: 'Links the change to energy: the sun heats the water, and the energy lets water particles leave the liquid.',
          levels: [
            { id: 'full', points: 2, descriptor: 'The sun heats the water and this energy makes particles escape, so it evaporates faster.' },
            { id: 'partial', points: 1, descriptor: 'Mentions the sun, heat or warmth without linking it to the change of state.' },
            { id: 'none', points: 0, descriptor: 'No cause, or a wrong cause such as wind alone or the ground.' },
          ],
        },
        {
          id: 'vocabulary',
          name: 'Uses scientific vocabulary',
          description: 'Uses the terms evaporation, water vapour, gas, liquid, particles or energy correctly.',
          levels: [
            { id: 'full', points: 1, descriptor: 'Two or more terms used correctly.' },
            { id: 'partial', points: 0.5, descriptor: 'One term used correctly, or terms used loosely.' },
            { id: 'none', points: 0, descriptor: 'No scientific terms, or terms used wrongly.' },
          ],
        },
      ],
      referenceAnswers: [
        'The sun heats the water, which gives the water particles energy, so the water evaporates and becomes water vapour, a gas, in the air.',
        'Heat from the sun makes the liquid water evaporate; it turns into an invisible gas called water vapour that mixes with the air.',
      ],
      anchors: ANCHORS.map(([answer, process, cause, vocabulary]) => ({ answer, levels: { process, cause, vocabulary } })),
    }),
  ];
}

export const GRADING_QUESTION = 'A puddle of water is left in the sun. After a few hours it is gone. Explain what happened to the water.';

const STEMS = [
  'The water evaporates because the sun heats it and it turns into water vapour in the air',
  'It dried up because the sun was hot and the water went into the air',
  'The heat from the sun gave the water energy so it became a gas',
  'The puddle soaked into the ground and some of it went up as vapour',
  'Sunlight warmed the puddle until the liquid turned into invisible water vapour',
];

/** A plausible student answer; `n` makes it unique (a cache miss). */
export function studentAnswer(n: number): string {
  return `${STEMS[n % STEMS.length]} (learner note ${n.toString(36)}-${(n * 7919).toString(36)}).`;
}

export function gradingBody(answer: string, rubricId = DEMO_RUBRIC_ID): string {
  return JSON.stringify({ rubricId, question: GRADING_QUESTION, answer });
}

/** The Messages API body the service sends for one grade (same builders as src/). */
export function upstreamGradingBody(rubric: Rubric, answer: string, opts: { cache: boolean } = { cache: true }): Record<string, unknown> {
  const prompt = buildGradingPrompt({ rubric, question: GRADING_QUESTION, answer });
  const params = messageParams({
    model: String(DEFAULT_POLICY.models?.grading),
    system: [
      { text: prompt.system, ...(opts.cache ? { cache: '1h' as const } : {}) },
      { text: prompt.rubricBlock, ...(opts.cache ? { cache: '5m' as const } : {}) },
    ],
    messages: [{ role: 'user', content: prompt.user }],
    schema: prompt.outputSchema,
    maxTokens: 1024,
  });
  return params as unknown as Record<string, unknown>;
}

/** Tokens of the cacheable prefix (instructions + rubric), by the simulator's formula (chars / 4). */
export function cacheablePrefixTokens(rubric: Rubric): { system: number; systemPlusRubric: number } {
  const prompt = buildGradingPrompt({ rubric, question: GRADING_QUESTION, answer: 'x' });
  return { system: Math.ceil(prompt.system.length / 4), systemPlusRubric: Math.ceil((prompt.system.length + prompt.rubricBlock.length) / 4) };
}
