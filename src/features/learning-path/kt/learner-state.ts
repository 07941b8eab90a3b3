/**
 * Running counts for one scope (everything, one skill, or one item).
 * `recent` holds the last 30 outcomes as bits (bit 0 = most recent, 1 = correct) so any
 * recent-window count up to 30 is a mask and a popcount, with no per-attempt allocation.
 * `residual` accumulates (correct - item base rate): performance beyond what the items'
 * difficulty predicts, i.e. an online ability estimate in the spirit of Elo.
 */
export interface Counts {
  attempts: number;
  wins: number;
  recent: number;
  residual: number;
}

export interface LearnerState {
  total: Counts;
  skills: Map<string, Counts>;
  items: Map<string, Counts>;
}

/** JSON form, because Maps do not survive JSON.stringify and the lead stores states. */
export interface LearnerStateJson {
  total: Counts;
  skills: Record<string, Counts>;
  items: Record<string, Counts>;
}

export const RECENT_BITS = 30;

export function emptyCounts(): Counts {
  return { attempts: 0, wins: 0, recent: 0, residual: 0 };
}

export function emptyLearnerState(): LearnerState {
  return { total: emptyCounts(), skills: new Map(), items: new Map() };
}

export function learnerStateToJson(state: LearnerState): LearnerStateJson {
  return {
    total: { ...state.total },
    skills: Object.fromEntries([...state.skills].map(([k, c]) => [k, { ...c }])),
    items: Object.fromEntries([...state.items].map(([k, c]) => [k, { ...c }])),
  };
}

export function learnerStateFromJson(json: LearnerStateJson): LearnerState {
  const counts = (c: Counts): Counts => ({
    attempts: c.attempts,
    wins: c.wins,
    recent: c.recent,
    residual: c.residual,
  });
  return {
    total: counts(json.total),
    skills: new Map(Object.entries(json.skills).map(([k, c]) => [k, counts(c)])),
    items: new Map(Object.entries(json.items).map(([k, c]) => [k, counts(c)])),
  };
}
