import type { ServerResponse } from 'node:http';
import { baseHeaders, sendError, sendJson } from './http-util.js';

const MODELS = [
  { id: 'claude-opus-5-5', display_name: 'Claude Opus 5.5 (simulated)' },
  { id: 'claude-sonnet-5-5', display_name: 'Claude Sonnet 5.5 (simulated)' },
  { id: 'claude-haiku-5-5', display_name: 'Claude Haiku 5.5 (simulated)' },
].map((m) => ({ ...m, type: 'model', created_at: '2025-01-01T00:00:00Z', deprecated_at: null, capabilities: null }));

export function listModels(res: ServerResponse, requestId: string): void {
  sendJson(res, 200, { data: MODELS, has_more: false, first_id: MODELS[0]!.id, last_id: MODELS.at(-1)!.id }, baseHeaders(requestId));
}

/** Any id is accepted: tests use made-up model names and the simulator echoes whatever it is given. */
export function retrieveModel(res: ServerResponse, id: string, requestId: string): void {
  if (!id) {
    sendError(res, 404, requestId, 'model id required');
    return;
  }
  const known = MODELS.find((m) => m.id === id);
  sendJson(res, 200, known ?? { ...MODELS[0]!, id, display_name: `${id} (simulated)` }, baseHeaders(requestId));
}
