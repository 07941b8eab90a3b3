import { CompiledQuery, createQueryId, type Compilable, type RootOperationNode } from 'kysely';
import type { Db } from './database.js';

// Named placeholders for a statement's values. Typed `any` so that `p.amount` fits
// wherever the builder expects a value of any column type (`never` would, but
// noUncheckedIndexedAccess turns an index read into `never | undefined`).
export type Placeholders = Readonly<Record<string, any>>;

// R: the row type of the built query. `values`: any object (a table row included)
// whose properties are the named values; other properties are ignored.
export interface Statement<R = unknown> {
  bind(values: object): CompiledQuery<R>;
}

// A parameter of the compiled query: a named value supplied at bind time, or a
// constant the builder wrote itself (kept as it is).
type Slot = { name: string } | { value: unknown };

// NUL cannot occur in a value the code writes on purpose, so a parameter that starts
// with it is one of ours.
const MARK = '\u0000tg:';

const placeholders: Placeholders = new Proxy({} as Placeholders, {
  get: (_target, prop) => (typeof prop === 'string' ? `${MARK}${prop}` : undefined),
});

// Kysely builds and compiles a query on every call (~30-50 µs), more than SQLite takes
// to run a small one. A statement builds its query once, on first use, with `build`
// given sentinel values and the Db it belongs to (compiled SQL is per dialect: `?` or
// `$1`). It records which named value goes into each parameter, so binding is a lookup
// per parameter and the order Kysely emits parameters in (not the order of the builder,
// e.g. in ON CONFLICT … DO UPDATE … WHERE) does not matter. A name may be used twice.
// A placeholder stands for one scalar value: a list (`in`) changes the SQL with its
// length, so such a query stays a plain Kysely query.
//
// A bound query is what CompiledQuery.raw makes (the SQL, its RawNode, the parameters, a
// query id for plugins), less its per-call work: the RawNode, the same for every binding,
// is made once, and nothing is frozen (five Object.freeze per binding, ten bindings per
// cache miss). Neither driver nor Kysely's executor writes to a compiled query.
export function statement<R>(db: Db, build: (p: Placeholders, db: Db) => Compilable<R>): Statement<R> {
  let compiled: { sql: string; slots: Slot[]; query: RootOperationNode } | undefined;
  return {
    bind(values) {
      const { sql, slots, query } = (compiled ??= compile(build(placeholders, db)));
      const params = new Array<unknown>(slots.length);
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i]!;
        if (!('name' in s)) {
          params[i] = s.value;
          continue;
        }
        const v = (values as Record<string, unknown>)[s.name];
        // SQL has no undefined; a value meant to be absent is null.
        if (v === undefined) throw new Error(`statement: no value for "${s.name}" in ${sql}`);
        params[i] = v;
      }
      return { sql, query, parameters: params, queryId: createQueryId() } as CompiledQuery<R>;
    },
  };
}

// A whole row of placeholders for an INSERT, one per column. `columns` names every column
// of the table — declared `satisfies Record<keyof Row, true>`, so the compiler rejects a
// list that misses one — and the insert therefore writes each of them.
export function placeheldRow<Row>(p: Placeholders, columns: Record<keyof Row, true>): Row {
  return Object.fromEntries(Object.keys(columns).map((c) => [c, p[c]])) as Row;
}

function compile(query: Compilable<unknown>): { sql: string; slots: Slot[]; query: RootOperationNode } {
  const { sql, parameters } = query.compile();
  // A placeholder concatenated into a value or inlined into the SQL text would be
  // bound wrongly or not at all: refuse it at once rather than store a sentinel.
  if (sql.includes(MARK)) throw new Error(`statement: a placeholder was inlined into the SQL: ${sql}`);
  const slots = parameters.map((v): Slot => {
    if (typeof v !== 'string' || !v.includes(MARK)) return { value: v };
    if (!v.startsWith(MARK)) throw new Error(`statement: a placeholder was used inside a value (${JSON.stringify(v)})`);
    return { name: v.slice(MARK.length) };
  });
  return { sql, slots, query: CompiledQuery.raw(sql).query };
}
