import { PhraseSource, evidenceSource } from './evidence-phrases.js';
import { seededRandom } from './ids.js';
import type { JsonObject } from './types.js';

type Schema = JsonObject;

const MAX_DEPTH = 12;
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The SDK's `zodOutputFormat` moves constraints the API does not enforce (minimum, maxLength, ...)
 * into the description as `{minimum: 0, maximum: 10}`; zod still checks them on parse, so honour them.
 */
export function constraintsFromDescription(description: unknown): JsonObject {
  if (typeof description !== 'string') return {};
  const m = /\{([^{}]*)\}\s*$/.exec(description);
  if (!m) return {};
  const json = '{' + m[1]!.replace(/(^|,\s*)([A-Za-z_$][\w$]*):\s/g, '$1"$2": ') + '}';
  try {
    const parsed: unknown = JSON.parse(json);
    return isObject(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

class Generator {
  constructor(
    private readonly root: Schema,
    private readonly rand: () => number,
    private readonly phrases: PhraseSource,
  ) {}

  value(input: unknown, depth: number): unknown {
    if (input === false || depth > MAX_DEPTH) return null;
    if (!isObject(input)) return this.phrases.phrase();
    const s = this.normalize(input, depth);
    if ('const' in s) return s.const;
    if (Array.isArray(s.enum) && s.enum.length > 0) return this.pick(s.enum);
    const branches = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined;
    if (branches && branches.length > 0) return this.value(branches[0], depth + 1);

    switch (this.typeOf(s)) {
      case 'object':
        return this.object(s, depth);
      case 'array':
        return this.array(s, depth);
      case 'integer':
        return this.number(s, true);
      case 'number':
        return this.number(s, false);
      case 'boolean':
        return this.rand() < 0.5;
      case 'null':
        return null;
      default:
        return this.string(s);
    }
  }

  private normalize(s: Schema, depth: number): Schema {
    let out = s;
    for (let hops = 0; typeof out.$ref === 'string' && hops < 16; hops++) {
      const target = this.resolveRef(out.$ref as string);
      if (!target) break;
      const { $ref: _ignored, ...rest } = out;
      out = { ...target, ...rest };
    }
    if (Array.isArray(out.allOf)) {
      const parts = out.allOf.filter(isObject).map((p) => this.normalize(p, depth + 1));
      const { allOf: _ignored, ...rest } = out;
      out = parts.reduce<Schema>(
        (acc, p) => ({
          ...acc,
          ...p,
          properties: { ...(acc.properties as object), ...(p.properties as object) },
          required: [...((acc.required as unknown[]) ?? []), ...((p.required as unknown[]) ?? [])],
        }),
        rest,
      );
    }
    const extra = constraintsFromDescription(out.description);
    for (const key of Object.keys(extra)) if (!(key in out)) out = { ...out, [key]: extra[key] };
    return out;
  }

  private resolveRef(ref: string): Schema | undefined {
    if (ref === '#') return this.root;
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!m) return undefined;
    const defs = this.root[m[1]!];
    const target = isObject(defs) ? defs[decodeURIComponent(m[2]!).replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
    return isObject(target) ? target : undefined;
  }

  private typeOf(s: Schema): string {
    if (typeof s.type === 'string') return s.type;
    if (Array.isArray(s.type)) return (s.type.find((t) => t !== 'null') as string | undefined) ?? 'null';
    if (isObject(s.properties)) return 'object';
    if (s.items !== undefined) return 'array';
    return 'string';
  }

  private object(s: Schema, depth: number): JsonObject {
    const props = isObject(s.properties) ? s.properties : {};
    const required = new Set(Array.isArray(s.required) ? s.required.filter((k) => typeof k === 'string') : []);
    const out: JsonObject = {};
    for (const [key, sub] of Object.entries(props)) {
      // Optional properties are included while shallow, dropped deeper to end recursive schemas.
      if (required.has(key) || depth < 4) out[key] = this.value(sub, depth + 1);
    }
    for (const key of required) if (!(key in out)) out[key as string] = this.phrases.phrase();
    return out;
  }

  private array(s: Schema, depth: number): unknown[] {
    const min = num(s.minItems) ?? 0;
    const max = num(s.maxItems) ?? min + 3;
    let count = Math.min(max, min + Math.floor(this.rand() * (Math.min(max, min + 2) - min + 1)));
    if (count === 0 && max > 0 && min === 0) count = 1;
    const items = isObject(s.items) ? this.normalize(s.items, depth + 1) : s.items;
    if (isObject(items) && Array.isArray(items.enum) && items.enum.length > 0) {
      const shuffled = [...items.enum].sort(() => this.rand() - 0.5);
      if (count <= shuffled.length) return shuffled.slice(0, count);
      if (s.uniqueItems === true) return shuffled;
    }
    const out: unknown[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      let v = this.value(items, depth + 1);
      for (let tries = 0; s.uniqueItems === true && seen.has(JSON.stringify(v)) && tries < 8; tries++) {
        v = this.value(items, depth + 1);
      }
      seen.add(JSON.stringify(v));
      out.push(v);
    }
    return out;
  }

  private number(s: Schema, integer: boolean): number {
    const exMin = num(s.exclusiveMinimum);
    const exMax = num(s.exclusiveMaximum);
    const step = integer ? 1 : 0.01;
    let lo = num(s.minimum) ?? (exMin !== undefined ? exMin + step : undefined);
    let hi = num(s.maximum) ?? (exMax !== undefined ? exMax - step : undefined);
    if (lo === undefined && hi === undefined) [lo, hi] = [0, 10];
    else if (lo === undefined) lo = hi! - 10;
    else if (hi === undefined) hi = lo + 10;
    // Zod's int() bounds are the safe-integer range; keep answers human-sized inside them.
    if (hi! - lo! > 100) [lo, hi] = lo! <= 0 && hi! >= 0 ? [0, Math.min(hi!, 10)] : lo! > 0 ? [lo!, lo! + 10] : [hi! - 10, hi!];
    const multiple = num(s.multipleOf);
    if (integer) {
      lo = Math.ceil(lo!);
      hi = Math.floor(hi!);
    }
    if (multiple !== undefined && multiple > 0) {
      const first = Math.ceil(lo! / multiple);
      const last = Math.floor(hi! / multiple);
      return last >= first ? (first + Math.floor(this.rand() * (last - first + 1))) * multiple : first * multiple;
    }
    if (integer) return hi! >= lo! ? lo! + Math.floor(this.rand() * (hi! - lo! + 1)) : lo!;
    const raw = lo! + this.rand() * (hi! - lo!);
    const rounded = Math.round(raw * 100) / 100;
    return rounded >= lo! && rounded <= hi! ? rounded : raw;
  }

  private string(s: Schema): string {
    const min = num(s.minLength) ?? 0;
    const max = num(s.maxLength) ?? Number.POSITIVE_INFINITY;
    const n = Math.floor(this.rand() * 1e12);
    const hex = n.toString(16).padStart(12, '0').slice(-12);
    switch (s.format) {
      case 'email':
        return `student${n % 1000}@example.com`;
      case 'uuid':
        return `00000000-0000-4000-8000-${hex}`;
      case 'date-time':
        return new Date(Date.UTC(2025, 0, 1) + (n % 1e10)).toISOString();
      case 'date':
        return new Date(Date.UTC(2025, 0, 1) + (n % 1e10)).toISOString().slice(0, 10);
      case 'time':
        return '12:00:00Z';
      case 'duration':
        return 'PT5M';
      case 'uri':
      case 'url':
        return `https://example.com/sim/${hex}`;
      case 'hostname':
        return 'sim.example.com';
      case 'ipv4':
        return `192.0.2.${n % 255}`;
      case 'ipv6':
        return '2001:db8::1';
    }
    return this.phrases.phrase(min, max);
  }

  private pick(values: unknown[]): unknown {
    return values[Math.floor(this.rand() * values.length)];
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Deterministic for a given (schema, seed, prompt text); `pattern` is not honoured. */
export function generateFromSchema(schema: JsonObject, seed: number, promptText: string): unknown {
  const rand = seededRandom(seed);
  const phrases = new PhraseSource(evidenceSource(promptText), rand);
  return new Generator(schema, rand, phrases).value(schema, 0);
}
