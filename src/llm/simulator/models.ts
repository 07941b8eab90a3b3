import type { ServerResponse } from 'node:http';
import { baseHeaders, sendError, sendJson } from './http-util.js';

// The ids the real API serves, as @anthropic-ai/sdk 1.x lists them (its `Model` type): aliases
// and dated ids. Any other id is a 404 `not_found_error` whose message names it ("model: <id>"),
// on the real API as here, so a typo or a retired model in the policy fails in tests the way it
// would in production instead of being answered. `SimulatorOptions.models` adds ids.
export const KNOWN_MODELS: readonly string[] = [
  'claude-fable-5-2',
  'claude-mythos-5-2',
  'claude-haiku-5-5',
  'claude-sonnet-5-5',
  'claude-fable-5-1',
  'claude-opus-5-5',
  'claude-mythos-5-1',
  'claude-sonnet-5',
  'claude-fable-5',
  'claude-mythos-5',
  'claude-opus-5',
  'claude-opus-4-8',
  'claude-opus-4-7',
  'claude-mythos-preview',
  'claude-opus-4-6',
  'claude-sonnet-4-6',
  'claude-haiku-4-5',
  'claude-haiku-4-5-20251001',
  'claude-opus-4-5',
  'claude-opus-4-5-20251101',
  'claude-sonnet-4-5',
  'claude-sonnet-4-5-20250929',
];

// Models before Opus 4.6 / Sonnet 4.6 run wherever Anthropic places them: they report no
// `usage.inference_geo` and refuse the `inference_geo` parameter (data-residency docs).
const NO_GEO = new Set(['haiku-4-5', 'opus-4-5', 'sonnet-4-5', 'opus-4-1', 'opus-4', 'opus-4-0', 'sonnet-4', 'sonnet-4-0']);

export function supportsInferenceGeo(model: string): boolean {
  const family = model.replace(/^claude-/, '').replace(/-\d{8}$/, '');
  return !(family.startsWith('3-') || NO_GEO.has(family));
}

const listed = (id: string) => ({ id, display_name: `${id} (simulated)`, type: 'model', created_at: '2025-01-01T00:00:00Z', deprecated_at: null, capabilities: null });

export class ModelCatalog {
  private readonly ids: Set<string>;

  constructor(extra: readonly string[] = []) {
    this.ids = new Set([...KNOWN_MODELS, ...extra]);
  }

  /** The 404 message for an id the API does not serve, or undefined when it does. */
  unknown(model: string): string | undefined {
    return this.ids.has(model) ? undefined : `model: ${model}`;
  }

  list(res: ServerResponse, requestId: string): void {
    const data = [...this.ids].map(listed);
    sendJson(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }, baseHeaders(requestId));
  }

  retrieve(res: ServerResponse, id: string, requestId: string): void {
    const missing = id ? this.unknown(id) : 'model id required';
    if (missing) sendError(res, 404, requestId, missing);
    else sendJson(res, 200, listed(id), baseHeaders(requestId));
  }
}
