import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimContext } from './context.js';
import { respondWithFault } from './fault-responder.js';
import { baseHeaders, rateLimitHeaders, sendError, sendJson } from './http-util.js';
import { buildMessage } from './message-builder.js';
import { writeStream } from './sse-writer.js';
import type { JsonObject } from './types.js';
import { promptText, requestSegments, totalInputTokens } from './usage.js';
import { validateMessageRequest } from './validate-request.js';

export function handleCreateMessage(
  ctx: SimContext,
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
  requestId: string,
): void {
  const obj = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as JsonObject;
  const stats = ctx.stats;
  stats.messages += 1;
  const model = typeof obj.model === 'string' ? obj.model : '(none)';
  stats.byModel[model] = (stats.byModel[model] ?? 0) + 1;
  if (obj.stream === true) stats.streamed += 1;

  // Faults model failures in front of the model (overload, network), so they win over validation.
  const fault = ctx.faults.take();
  if (fault) {
    stats.faulted += 1;
    respondWithFault(ctx, fault, req, res, obj, requestId);
    return;
  }
  const invalid = validateMessageRequest(body, 'create');
  if (invalid) {
    stats.invalid += 1;
    sendError(res, 400, requestId, invalid);
    return;
  }
  const unknownModel = ctx.models.unknown(String(obj.model));
  if (unknownModel) {
    stats.invalid += 1;
    sendError(res, 404, requestId, unknownModel);
    return;
  }
  const scripted = ctx.script.take(obj, () => promptText(obj));
  if (scripted?.fault) {
    stats.faulted += 1;
    respondWithFault(ctx, scripted.fault, req, res, obj, requestId, scripted);
    return;
  }
  const built = buildMessage(obj, scripted, { cache: ctx.cache, now: ctx.now, requestId, batch: false, inferenceGeo: ctx.inferenceGeo });
  ctx.later(ctx.latency(scripted?.latencyMs), () => {
    if (res.destroyed) return; // the client gave up during the simulated latency: nothing was delivered
    ctx.charge(built.charge);
    const usage = built.message.usage as { input_tokens: number; output_tokens: number };
    const headers = { ...baseHeaders(requestId), ...rateLimitHeaders(ctx.now(), usage.input_tokens + usage.output_tokens) };
    if (obj.stream === true) writeStream(res, headers, built.message, requestId, 'complete');
    else sendJson(res, 200, built.message, headers);
  });
}

export function handleCountTokens(ctx: SimContext, res: ServerResponse, body: unknown, requestId: string): void {
  ctx.stats.countTokens += 1;
  const invalid = validateMessageRequest(body, 'count_tokens');
  if (invalid) {
    ctx.stats.invalid += 1;
    sendError(res, 400, requestId, invalid);
    return;
  }
  const unknownModel = ctx.models.unknown(String((body as JsonObject).model));
  if (unknownModel) {
    ctx.stats.invalid += 1;
    sendError(res, 404, requestId, unknownModel);
    return;
  }
  const input = totalInputTokens(requestSegments(body as JsonObject));
  sendJson(res, 200, { input_tokens: input }, baseHeaders(requestId));
}
