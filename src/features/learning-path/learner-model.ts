import { readFileSync } from 'node:fs';
import type { Clock } from '../../platform/clock.js';
import type { Catalog } from './catalog.schema.js';
import { KnowledgeTracer } from './kt/knowledge-tracer.js';
import type { KtParams } from './kt/kt-params.js';
import { emptyLearnerState, learnerStateFromJson, learnerStateToJson, type LearnerState } from './kt/learner-state.js';
import type { LearningRepository, ProgressEventRow } from './learning.repository.js';

export function defaultKtParams(): KtParams {
  return JSON.parse(readFileSync(new URL('./kt/default-kt-params.json', import.meta.url), 'utf8')) as KtParams;
}

export interface LearnerSnapshot {
  state: LearnerState;
  lastEventAt: number;
  events: number;
}

type Repo = Pick<LearningRepository, 'getState' | 'putState' | 'eventsFor' | 'countEvents' | 'ktParamsJson'>;

// Per-learner knowledge state, updated online per attempt. Events that arrive out of
// order (older than the newest applied) trigger a replay of the learner's history in
// time order, so the state never depends on arrival order. The state always stands for
// every stored event exactly once: a request adds its new events to the state only when
// the state plus them is all that is stored (a concurrent request may have stored more,
// or replayed the history with these already in it); otherwise it replays.
// (Two requests racing on one learner counted an event twice, or lost one, before.)
export class LearnerModel {
  private tracer: KnowledgeTracer | undefined;

  constructor(
    private readonly repo: Repo,
    private readonly clock: Clock,
  ) {}

  async kt(): Promise<KnowledgeTracer> {
    if (!this.tracer) {
      const stored = await this.repo.ktParamsJson();
      this.tracer = new KnowledgeTracer(stored ? (JSON.parse(stored) as KtParams) : defaultKtParams());
    }
    return this.tracer;
  }

  reloadParams(): void {
    this.tracer = undefined;
  }

  async snapshot(userId: string): Promise<LearnerSnapshot> {
    const s = await this.repo.getState(userId);
    if (!s) return { state: emptyLearnerState(), lastEventAt: 0, events: 0 };
    return { state: learnerStateFromJson(JSON.parse(s.json)), lastEventAt: s.lastEventAt, events: s.events };
  }

  async apply(userId: string, fresh: ProgressEventRow[], catalog: Catalog): Promise<LearnerSnapshot> {
    const tracer = await this.kt();
    const skillsOf = skillIndex(catalog);
    const current = await this.snapshot(userId);
    const sorted = [...fresh].sort((a, b) => Number(a.at) - Number(b.at));
    const inOrder = sorted.every((e) => Number(e.at) >= current.lastEventAt);
    if (inOrder && current.events + fresh.length === (await this.repo.countEvents(userId))) {
      for (const e of sorted) tracer.update(current.state, e.item_id, skillsOf(e.item_id), e.correct === 1);
      const next = { state: current.state, lastEventAt: Math.max(current.lastEventAt, ...sorted.map((e) => Number(e.at))), events: current.events + fresh.length };
      if (await this.repo.putState(userId, JSON.stringify(learnerStateToJson(next.state)), next.lastEventAt, next.events, this.clock.now(), current.events)) return next;
    }
    return this.replay(userId, tracer, skillsOf);
  }

  private async replay(userId: string, tracer: KnowledgeTracer, skillsOf: (itemId: string) => string[]): Promise<LearnerSnapshot> {
    const all = await this.repo.eventsFor(userId);
    const state = emptyLearnerState();
    for (const e of all) tracer.update(state, e.item_id, skillsOf(e.item_id), e.correct === 1);
    const next = { state, lastEventAt: Math.max(0, ...all.map((e) => Number(e.at))), events: all.length };
    if (await this.repo.putState(userId, JSON.stringify(learnerStateToJson(next.state)), next.lastEventAt, next.events, this.clock.now())) return next;
    return this.snapshot(userId); // a replay that saw more events wrote first
  }
}

export function skillIndex(catalog: Catalog): (itemId: string) => string[] {
  const map = new Map(catalog.items.map((i) => [i.id, i.skills]));
  return (itemId) => map.get(itemId) ?? [];
}
