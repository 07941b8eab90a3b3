// Characters no field of the API takes, wherever a value comes from (a JSON body, a query,
// a YAML document parsed later): U+0000, which Postgres text cannot hold, and a lone UTF-16
// surrogate, which is half a character (the Anthropic API refuses a request holding one,
// and both stores write U+FFFD in its place).
export const NUL = /\u0000/;
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Either of them: what a request is searched for in one pass (it holds neither, almost always).
export const UNSTORABLE = new RegExp(`${NUL.source}|${LONE_SURROGATE.source}`);

// Schemas are a few levels deep; a deeper body is refused by its schema anyway.
const MAX_DEPTH = 32;

// The path of the first string (or key) holding a character `bad` matches. Raw bodies (the billing webhook's
// signed bytes) are the route's to decode.
export function findString(v: unknown, path: string, bad: RegExp, depth = 0): string | undefined {
  if (typeof v === 'string') return bad.test(v) ? path : undefined;
  if (typeof v !== 'object' || v === null || depth > MAX_DEPTH || ArrayBuffer.isView(v)) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = findString(v[i], `${path}[${i}]`, bad, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, child] of Object.entries(v)) {
    if (bad.test(k)) return `${path} (a key)`;
    const found = findString(child, `${path}.${k}`, bad, depth + 1);
    if (found) return found;
  }
  return undefined;
}

const KINDS = [
  [NUL, 'contains U+0000, which no field accepts'],
  [LONE_SURROGATE, 'contains a lone UTF-16 surrogate (half of a character), which is not text'],
] as const;

// Each kind of unstorable character in `v`, with the path of its first string and what is wrong
// (what a document read from a file or YAML reports, where escapes make what the request's
// guard never saw): one pass for both when there is neither.
export function unstorableIn(v: unknown, path: string): { at: string; what: string }[] {
  if (findString(v, path, UNSTORABLE) === undefined) return [];
  return KINDS.flatMap(([bad, what]) => {
    const at = findString(v, path, bad);
    return at === undefined ? [] : [{ at, what }];
  });
}
