// Measures how often, and by how much, a KT model's mastery moves the wrong way: down after
// a correct answer on the skill, up after a wrong one. Also reports how answers on one skill
// move the mastery of another. Random answer histories (seeded, so runs are comparable) over
// a few skills, replayed with real item ids when the params know them.
// Run: npx tsx scripts/kt-monotonicity.ts [params.json] [--histories N]
//      npx tsx scripts/kt-monotonicity.ts --fit-users 200   (fits on the first 200 train users)
import { readFileSync } from 'node:fs';
import { readAttemptsTsv } from '../src/features/learning-path/kt/attempt.js';
import { fitKnowledgeTracer } from '../src/features/learning-path/kt/fit-knowledge-tracer.js';
import { KnowledgeTracer, emptyLearnerState } from '../src/features/learning-path/kt/knowledge-tracer.js';
import type { KtParams } from '../src/features/learning-path/kt/kt-params.js';
import { firstLearners, practisedCatalog } from '../src/features/learning-path/kt/kt-sample.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const histories = Number(opt('--histories') ?? 20_000);
const fitUsers = opt('--fit-users');
const file = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));

let params: KtParams;
let catalog: { item: string; skills: string[] }[];
if (fitUsers) {
  const all = await readAttemptsTsv('../shared/data/kt/assistments09/train.tsv');
  const rows = firstLearners(all, Number(fitUsers));
  params = fitKnowledgeTracer(rows, { l2: 3 });
  catalog = practisedCatalog(rows, 4, 6);
} else {
  params = JSON.parse(readFileSync(file ?? 'src/features/learning-path/kt/default-kt-params.json', 'utf8')) as KtParams;
  catalog = [0, 1, 2, 3].flatMap((s) => [0, 1, 2].map((i) => ({ item: `i${s}-${i}`, skills: [`s${s}`] })));
}
const skills = [...new Set(catalog.flatMap((c) => c.skills))];
const kt = new KnowledgeTracer(params);

let seed = 0x2545f491;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

const same = { right: stats(), wrong: stats() };
const other = { right: stats(), wrong: stats() };
for (let h = 0; h < histories; h++) {
  const s = emptyLearnerState();
  const len = Math.floor(rand() ** 2 * 200);
  const skill = rand(); // learners differ in how often they are right
  for (let t = 0; t < len; t++) {
    const c = catalog[Math.floor(rand() * catalog.length)]!;
    kt.update(s, c.item, c.skills, rand() < skill);
  }
  const c = catalog[Math.floor(rand() * catalog.length)]!;
  const correct = rand() < 0.5;
  const before = skills.map((k) => kt.mastery(s, k));
  kt.update(s, c.item, c.skills, correct);
  skills.forEach((k, i) => {
    const d = kt.mastery(s, k) - before[i]!;
    (c.skills.includes(k) ? same : other)[correct ? 'right' : 'wrong'].add(correct ? d : -d);
  });
}

function stats() {
  const s = { n: 0, bad: 0, worst: 0, sumBad: 0, min: Infinity, max: -Infinity, sum: 0 };
  return Object.assign(s, {
    // d is the move in the direction the answer should push (>= 0 is right).
    add(d: number) {
      s.n++;
      s.sum += d;
      s.min = Math.min(s.min, d);
      s.max = Math.max(s.max, d);
      if (d < -1e-12) {
        s.bad++;
        s.sumBad += -d;
        s.worst = Math.max(s.worst, -d);
      }
    },
  });
}
const show = (x: ReturnType<typeof stats>) => ({
  n: x.n,
  wrongWay: `${((100 * x.bad) / x.n).toFixed(2)} %`,
  worstWrongWay: +x.worst.toFixed(4),
  meanWrongWay: x.bad ? +(x.sumBad / x.bad).toFixed(4) : 0,
  meanMove: +(x.sum / x.n).toFixed(4),
  range: [+x.min.toFixed(4), +x.max.toFixed(4)],
});
console.log(`params: ${fitUsers ? `fitted on the first ${fitUsers} train users` : (file ?? 'shipped default')}; ${histories} histories`);
console.log('mastery of the answered skill, after a correct answer:', show(same.right));
console.log('mastery of the answered skill, after a wrong answer:  ', show(same.wrong));
console.log('mastery of another skill, after a correct answer:     ', show(other.right));
console.log('mastery of another skill, after a wrong answer:       ', show(other.wrong));
