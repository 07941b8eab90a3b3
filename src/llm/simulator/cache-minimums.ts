// The shortest prefix each model will cache, in tokens, as Anthropic documents it
// (platform.claude.com, Prompt caching › Cache limitations). A shorter prefix is processed
// without caching and without an error: usage then shows no cache write and no cache read.
// Ids match by prefix, so dated ids (claude-haiku-4-5-20251001) and aliases find their family;
// the first match wins, so a family's newer versions come before the bare family name.
const MINIMUMS: ReadonlyArray<readonly [idPrefix: string, tokens: number]> = [
  ['claude-opus-4-6', 4096],
  ['claude-opus-4-5', 4096],
  ['claude-haiku-4-5', 4096],
  ['claude-sonnet-4-6', 1024],
  ['claude-sonnet-4-5', 1024],
  ['claude-opus-4-1', 1024],
  ['claude-opus-4', 1024],
  ['claude-sonnet-4', 1024],
  ['claude-3-7-sonnet', 1024],
  ['claude-3-5-haiku', 2048],
  ['claude-3-haiku', 2048],
];

// Models not in the table (the simulator's own made-up ids among them) get the minimum most
// models have.
export const DEFAULT_MIN_CACHEABLE_TOKENS = 1024;

export function minCacheableTokens(model: string): number {
  for (const [prefix, tokens] of MINIMUMS) if (model === prefix || model.startsWith(`${prefix}-`)) return tokens;
  return DEFAULT_MIN_CACHEABLE_TOKENS;
}
