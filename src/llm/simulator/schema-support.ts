import type { JsonObject } from './types.js';

// Structured outputs accept a subset of JSON Schema, and the API refuses a schema outside it
// with a 400 invalid_request_error naming the keyword ("output_config.format.schema: For
// 'integer' type, property 'minimum' is not supported"), rather than ignore it. Anthropic's
// structured-outputs docs, "JSON Schema limitations": no numerical constraints (minimum,
// maximum, multipleOf, ...), no string length constraints, no array constraints beyond
// minItems 0 or 1, additionalProperties only `false`, enum values primitives only, local $ref
// only. The SDK's transformJSONSchema (zodOutputFormat, jsonSchemaOutputFormat) moves exactly
// these into the description; a hand-written schema sent as it is gets the 400.

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const NUMERIC = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];
const STRING = ['minLength', 'maxLength'];
const ARRAY = ['maxItems', 'uniqueItems', 'contains', 'minContains', 'maxContains', 'prefixItems'];
const OBJECT = ['minProperties', 'maxProperties', 'patternProperties', 'propertyNames', 'dependentRequired', 'dependentSchemas'];
const ANY = ['not', 'if', 'then', 'else'];
// In the order a refusal names them, when a schema has several.
const REFUSED = [...NUMERIC, ...STRING, ...ARRAY, ...OBJECT, ...ANY];
const REFUSED_SET = new Set(REFUSED);

function typeName(s: JsonObject): string {
  if (typeof s.type === 'string') return s.type;
  if (Array.isArray(s.type)) return s.type.filter((t) => t !== 'null').join('|') || 'null';
  return 'schema';
}

const COMBINATIONS = ['anyOf', 'oneOf', 'allOf'];
const DEFINITIONS = ['$defs', 'definitions'];

function check(s: unknown, depth: number): string | undefined {
  if (!isObject(s) || depth > 64) return undefined;
  const not = (key: string) => `For '${typeName(s)}' type, property '${key}' is not supported`;
  // The node's own few keys are looked up among the refused ones (every request's schema is
  // checked: this is on the simulator's hot path, which shares the bench machine's cores).
  for (const key in s) {
    if (REFUSED_SET.has(key)) return not(REFUSED.find((k) => k in s)!);
  }
  if ('minItems' in s && s.minItems !== 0 && s.minItems !== 1) return `${not('minItems')} with value ${JSON.stringify(s.minItems)} (only 0 or 1)`;
  if ('additionalProperties' in s && s.additionalProperties !== false) return `For '${typeName(s)}' type, 'additionalProperties' must be set to false`;
  if (Array.isArray(s.enum) && s.enum.some((v) => typeof v === 'object' && v !== null)) return 'enum values must be strings, numbers, booleans or null';
  if (typeof s.$ref === 'string' && !s.$ref.startsWith('#')) return `External $ref '${s.$ref}' is not supported`;

  const children: unknown[] = [];
  if (isObject(s.properties)) children.push(...Object.values(s.properties));
  if (s.items !== undefined) children.push(...(Array.isArray(s.items) ? s.items : [s.items]));
  for (const key of COMBINATIONS) if (Array.isArray(s[key])) children.push(...(s[key] as unknown[]));
  for (const key of DEFINITIONS) if (isObject(s[key])) children.push(...Object.values(s[key]));
  for (const child of children) {
    const err = check(child, depth + 1);
    if (err) return err;
  }
  return undefined;
}

/** The 400 message for a structured-output schema outside the supported subset, or undefined. */
export function unsupportedSchemaFeature(schema: JsonObject, where: string): string | undefined {
  const err = check(schema, 0);
  return err ? `${where}: ${err}` : undefined;
}
