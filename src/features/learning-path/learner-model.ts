import { readFileSync } from 'node:fs';
import type { Clock } from '../../platform/clock.js';
import type { Catalog } from './catalog.schema.js';
import { KnowledgeTracer } from './kt/knowledge-tracer.js';
import type { KtParams } from './kt/kt-params.js';
import { emptyLearnerState, learnerStateFromJson, learnerStateToJson, type LearnerState } from './kt/learner-state.js';
import type { LearnerBase, LearningRepository, ProgressEventRow } from './learning.repository.js';

export function defaultKtParams(): KtParams {
  return JSON.parse(readFileSync(new URL('./kt/default-kt-params.json', import.meta.url), 'utf8')) as KtParams;
}

export interface LearnerSnapshot {
  state: LearnerState;
  lastEventAt: number;
  events: number;
}

type Repo = Pick<LearningRepository, 'getState' | 'getBase' | 'putState' | 'eventsFor' | 'countEvents' | 'ktParamsJson' | 'ktParamsFittedAt' | 'catalogsJson'>;

// How long a process keeps the knowledge-tracing params before asking whether `kt-fit` has
// stored new ones (one read by primary key).
export const KT_PARAMS_CHECK_MS = 5_000;
type FoldRepo = Pick<LearningRepository, 'getBase' | 'eventsBefore' | 'foldEvents'>;

// How often a replay reads again when the retention job folded events while it read.
const REPLAY_READS = 5;

// Per-learner knowledge state, updated online per attempt. Events that arrive out of
// order (older than the newest applied) trigger a replay of the learner's history in
// time order, so the state never depends on arrival order. The state always stands for
// every stored event exactly once: a request adds its new events to the state only when
// the state plus them is all that is stored (a concurrent request may have stored more,
// or replayed the history with these already in it); otherwise it replays.
// (Two requests racing on one learner counted an event twice, or lost one, before.)
//
// "Stored" includes the baseline: the events the retention job deleted live on as one
// folded state (fold below, ADR 0017), and a replay starts from it. The state's event
// count stays the count of every event ever applied, deleted ones too, so mastery, the
// count the API answers and the path cache's key do not move when old events go.
export class LearnerModel {
  // The params were read once per process and kept: after a `kt-fit` (a CLI process), running
  // instances went on with the old ones until restarted while instances started since used the
  // new, so one learner's mastery and path depended on which instance answered.
  private tracer: { kt: KnowledgeTracer; fittedAt: number | undefined; checkedAt: number } | undefined;
  private retired: { version: string; skills: Promise<Map<string, string[]>> } | undefined;

  constructor(
    private readonly repo: Repo,
    private readonly clock: Clock,
  ) {}

  async kt(): Promise<KnowledgeTracer> {
    const now = this.clock.now();
    if (this.tracer && now - this.tracer.checkedAt < KT_PARAMS_CHECK_MS) return this.tracer.kt;
    const fittedAt = await this.repo.ktParamsFittedAt();
    if (this.tracer && this.tracer.fittedAt === fittedAt) {
      this.tracer.checkedAt = now;
      return this.tracer.kt;
    }
    const stored = await this.repo.ktParamsJson();
    this.tracer = { kt: new KnowledgeTracer(stored ? (JSON.parse(stored) as KtParams) : defaultKtParams()), fittedAt, checkedAt: now };
    return this.tracer.kt;
  }

  reloadParams(): void {
    this.tracer = undefined;
  }

  // Skills of the items attempted: the catalog's, and for an item since removed from it,
  // those it had in the newest stored version that held it. An attempt was evidence about
  // those skills when it was applied; a replay or fold under a later catalog must not
  // forget it (mastery would drop, a mastered skill would look never practised). The old
  // versions are read only when such an item comes up, once per active version.
  async skillsOf(catalog: Catalog, itemIds: readonly string[]): Promise<(itemId: string) => string[]> {
    const current = skillIndex(catalog);
    const known = new Set(catalog.items.map((i) => i.id));
    if (itemIds.every((id) => known.has(id))) return current;
    if (this.retired?.version !== catalog.version) this.retired = { version: catalog.version, skills: this.retiredItemSkills(known) };
    const retired = await this.retired.skills;
    return (itemId) => (known.has(itemId) ? current(itemId) : (retired.get(itemId) ?? []));
  }

  private async retiredItemSkills(known: ReadonlySet<string>): Promise<Map<string, string[]>> {
    const skills = new Map<string, string[]>();
    for (const json of await this.repo.catalogsJson()) {
      for (const item of (JSON.parse(json) as Catalog).items) if (!known.has(item.id)) skills.set(item.id, item.skills);
    }
    return skills;
  }

  async snapshot(userId: string): Promise<LearnerSnapshot> {
    const s = await this.repo.getState(userId);
    if (!s) return { state: emptyLearnerState(), lastEventAt: 0, events: 0 };
    return { state: learnerStateFromJson(JSON.parse(s.json)), lastEventAt: s.lastEventAt, events: s.events };
  }

  async apply(userId: string, fresh: ProgressEventRow[], catalog: Catalog): Promise<LearnerSnapshot> {
    const tracer = await this.kt();
    const stored = await this.repo.getState(userId);
    const current: LearnerSnapshot = stored ? { state: learnerStateFromJson(JSON.parse(stored.json)), lastEventAt: stored.lastEventAt, events: stored.events } : { state: emptyLearnerState(), lastEventAt: 0, events: 0 };
    const folded = stored?.base.events ?? 0;
    const sorted = [...fresh].sort(replayOrder);
    const inOrder = sorted.every((e) => Number(e.at) >= current.lastEventAt);
    // A fold committing between these two reads makes the sum look short: a replay, never a wrong state.
    if (inOrder && current.events + fresh.length === folded + (await this.repo.countEvents(userId))) {
      const skillsOf = await this.skillsOf(catalog, fresh.map((e) => e.item_id));
      for (const e of sorted) tracer.update(current.state, e.item_id, skillsOf(e.item_id), e.correct === 1);
      const next = { state: current.state, lastEventAt: Math.max(current.lastEventAt, ...sorted.map((e) => Number(e.at))), events: current.events + fresh.length };
      if (await this.repo.putState(userId, JSON.stringify(learnerStateToJson(next.state)), next.lastEventAt, next.events, this.clock.now(), current.events)) return next;
    }
    return this.replay(userId, tracer, catalog);
  }

  private async replay(userId: string, tracer: KnowledgeTracer, catalog: Catalog): Promise<LearnerSnapshot> {
    // The baseline and the events must be of one moment: a fold moves events into the
    // baseline in one transaction, so the baseline read unchanged after the events were
    // read means the events are the ones after it (read the other way round, a fold in
    // between would count its events twice).
    for (let i = 0; i < REPLAY_READS; i++) {
      const base = await this.repo.getBase(userId);
      const all = (await this.repo.eventsFor(userId)).sort(replayOrder);
      if ((await this.repo.getBase(userId)).events !== base.events) continue;
      const state = base.json ? learnerStateFromJson(JSON.parse(base.json)) : emptyLearnerState();
      const skillsOf = await this.skillsOf(catalog, all.map((e) => e.item_id));
      for (const e of all) tracer.update(state, e.item_id, skillsOf(e.item_id), e.correct === 1);
      // A loop, not Math.max(...all): spreading ~125,000 arguments overflows the stack.
      const lastEventAt = all.reduce((m, e) => Math.max(m, Number(e.at)), base.lastEventAt);
      const next = { state, lastEventAt, events: base.events + all.length };
      if (await this.repo.putState(userId, JSON.stringify(learnerStateToJson(next.state)), next.lastEventAt, next.events, this.clock.now())) return next;
      break; // a replay that saw more events wrote first
    }
    return this.snapshot(userId);
  }
}

// Retention: folds one learner's oldest events before `before` (at most `limit`) into
// their baseline and deletes them, in one transaction. The events folded are a prefix
// of the history in replay order, so baseline + the events left replays to the same
// state. An event that arrives later dated before the baseline's newest is applied after
// it by a replay, as if it had come a little later: the only order a fold cannot keep.
// Returns how many events were deleted (0 when another instance folded them first).
export async function foldOldEvents(d: { repo: FoldRepo; learners: Pick<LearnerModel, 'kt' | 'skillsOf'>; now: () => number }, userId: string, before: number, catalog: Catalog, limit: number): Promise<number> {
  const base = await d.repo.getBase(userId);
  const old = await d.repo.eventsBefore(userId, before, limit);
  if (old.length === 0) return 0;
  const tracer = await d.learners.kt();
  const skillsOf = await d.learners.skillsOf(catalog, old.map((e) => e.item_id));
  const state = base.json ? learnerStateFromJson(JSON.parse(base.json)) : emptyLearnerState();
  for (const e of old) tracer.update(state, e.item_id, skillsOf(e.item_id), e.correct === 1);
  const next: LearnerBase = { json: JSON.stringify(learnerStateToJson(state)), events: base.events + old.length, lastEventAt: Math.max(base.lastEventAt, ...old.map((e) => Number(e.at))) };
  return (await d.repo.foldEvents(userId, base.events, next, old.map((e) => e.event_id), d.now())) ? old.length : 0;
}

// The one order attempts are applied in, whether added to the state or replayed: by time,
// then arrival, then event id (in code units, whatever the database's collation). An
// update that took a batch's same-time attempts in request order while a replay took them
// by id would change the learner's mastery on the next replay.
function replayOrder(a: ProgressEventRow, b: ProgressEventRow): number {
  return Number(a.at) - Number(b.at) || Number(a.received_at) - Number(b.received_at) || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0);
}

export function skillIndex(catalog: Catalog): (itemId: string) => string[] {
  const map = new Map(catalog.items.map((i) => [i.id, i.skills]));
  return (itemId) => map.get(itemId) ?? [];
}
