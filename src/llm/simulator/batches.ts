import type { ServerResponse } from 'node:http';
import type { SimContext } from './context.js';
import { baseHeaders, errorType, sendError, sendJson } from './http-util.js';
import { newBatchId, newRequestId } from './ids.js';
import { buildMessage } from './message-builder.js';
import type { JsonObject } from './types.js';
import { promptText } from './usage.js';
import { validateMessageRequest } from './validate-request.js';

interface BatchRequest {
  custom_id: string;
  params: JsonObject;
}

interface BatchRecord {
  batch: {
    id: string;
    type: 'message_batch';
    processing_status: 'in_progress' | 'canceling' | 'ended';
    request_counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
    created_at: string;
    expires_at: string;
    ended_at: string | null;
    cancel_initiated_at: string | null;
    archived_at: string | null;
    results_url: string | null;
  };
  requests: BatchRequest[];
  results: string | null;
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const DAY_MS = 24 * 60 * 60_000;

function parseRequests(body: unknown): BatchRequest[] | string {
  if (!isObject(body) || !Array.isArray(body.requests)) return 'requests: Field required';
  if (body.requests.length === 0) return 'requests: at least one request is required';
  if (body.requests.length > 100_000) return 'requests: at most 100000 requests per batch';
  const seen = new Set<string>();
  const out: BatchRequest[] = [];
  for (let i = 0; i < body.requests.length; i++) {
    const r: unknown = body.requests[i];
    if (!isObject(r) || typeof r.custom_id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(r.custom_id)) {
      return `requests.${i}.custom_id: must be 1-64 characters of [A-Za-z0-9_-]`;
    }
    if (seen.has(r.custom_id)) return `requests.${i}.custom_id: duplicate custom_id '${r.custom_id}'`;
    if (!isObject(r.params)) return `requests.${i}.params: Field required`;
    seen.add(r.custom_id);
    out.push({ custom_id: r.custom_id, params: r.params });
  }
  return out;
}

export class BatchStore {
  private readonly batches = new Map<string, BatchRecord>();

  constructor(private readonly ctx: SimContext) {}

  create(res: ServerResponse, body: unknown, requestId: string): void {
    const requests = parseRequests(body);
    if (typeof requests === 'string') {
      sendError(res, 400, requestId, requests);
      return;
    }
    const now = this.ctx.now();
    const id = newBatchId();
    const record: BatchRecord = {
      batch: {
        id,
        type: 'message_batch',
        processing_status: 'in_progress',
        request_counts: { processing: requests.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + DAY_MS).toISOString(),
        ended_at: null,
        cancel_initiated_at: null,
        archived_at: null,
        results_url: null,
      },
      requests,
      results: null,
    };
    this.batches.set(id, record);
    this.ctx.stats.batchesCreated += 1;
    this.ctx.stats.batchRequests += requests.length;
    // Asynchronous on purpose: clients must poll, as they would against the real API.
    this.ctx.later(Math.max(1, this.ctx.batchDelayMs), () => this.process(record));
    sendJson(res, 200, record.batch, baseHeaders(requestId));
  }

  retrieve(res: ServerResponse, id: string, requestId: string): void {
    const record = this.batches.get(id);
    if (!record) sendError(res, 404, requestId, `No message batch with id ${id}`);
    else sendJson(res, 200, record.batch, baseHeaders(requestId));
  }

  results(res: ServerResponse, id: string, requestId: string): void {
    const record = this.batches.get(id);
    if (!record || record.results === null) {
      sendError(res, 404, requestId, record ? `Message batch ${id} has not ended yet` : `No message batch with id ${id}`);
      return;
    }
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { ...baseHeaders(requestId, 'application/x-jsonl'), 'content-length': Buffer.byteLength(record.results) });
    res.end(record.results);
  }

  cancel(res: ServerResponse, id: string, requestId: string): void {
    const record = this.batches.get(id);
    if (!record) {
      sendError(res, 404, requestId, `No message batch with id ${id}`);
      return;
    }
    if (record.batch.processing_status === 'in_progress') {
      record.batch.processing_status = 'canceling';
      record.batch.cancel_initiated_at = new Date(this.ctx.now()).toISOString();
    }
    sendJson(res, 200, record.batch, baseHeaders(requestId));
  }

  delete(res: ServerResponse, id: string, requestId: string): void {
    const record = this.batches.get(id);
    if (!record) {
      sendError(res, 404, requestId, `No message batch with id ${id}`);
      return;
    }
    if (record.batch.processing_status !== 'ended') {
      sendError(res, 400, requestId, 'Message batches must be ended or canceled before they can be deleted');
      return;
    }
    this.batches.delete(id);
    sendJson(res, 200, { id, type: 'message_batch_deleted' }, baseHeaders(requestId));
  }

  list(res: ServerResponse, query: Record<string, string>, requestId: string): void {
    const all = [...this.batches.values()].map((r) => r.batch).reverse();
    const limit = Math.min(1000, Math.max(1, Number.parseInt(query.limit ?? '20', 10) || 20));
    let start = 0;
    let end = all.length;
    if (query.after_id) start = all.findIndex((b) => b.id === query.after_id) + 1;
    if (query.before_id) end = Math.max(0, all.findIndex((b) => b.id === query.before_id));
    const page = query.before_id ? all.slice(Math.max(start, end - limit), end) : all.slice(start, Math.min(end, start + limit));
    const hasMore = query.before_id ? end - limit > start : start + limit < end;
    sendJson(
      res,
      200,
      { data: page, has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null },
      baseHeaders(requestId),
    );
  }

  clear(): void {
    this.batches.clear();
  }

  private process(record: BatchRecord): void {
    const canceled = record.batch.processing_status === 'canceling';
    const counts = record.batch.request_counts;
    const lines: string[] = [];
    for (const r of record.requests) {
      const result = canceled ? { type: 'canceled' as const } : this.run(r);
      counts[result.type] += 1;
      lines.push(JSON.stringify({ custom_id: r.custom_id, result }));
    }
    counts.processing = 0;
    record.results = lines.join('\n') + '\n';
    record.batch.processing_status = 'ended';
    record.batch.ended_at = new Date(this.ctx.now()).toISOString();
    record.batch.results_url = `${this.ctx.baseUrl}/v1/messages/batches/${record.batch.id}/results`;
  }

  private run(r: BatchRequest): { type: 'succeeded' | 'errored' | 'expired' | 'canceled' } & JsonObject {
    const invalid = validateMessageRequest(r.params, 'create') ?? (r.params.stream === true ? 'stream: not supported in batches' : undefined);
    if (invalid) return errored(400, invalid);
    const unknownModel = this.ctx.models.unknown(String(r.params.model));
    if (unknownModel) return errored(404, unknownModel);
    const scripted = this.ctx.script.take(r.params, () => promptText(r.params));
    // Never processed, so never charged: the result carries no message and no usage.
    if (scripted?.batchResult) return { type: scripted.batchResult };
    if (scripted?.fault) {
      const status = scripted.fault.kind === 'status' ? scripted.fault.status : 500;
      return errored(status, `Simulated ${scripted.fault.kind} fault`);
    }
    const requestId = newRequestId();
    const built = buildMessage(r.params, scripted, { cache: this.ctx.cache, now: this.ctx.now, requestId, batch: true, inferenceGeo: this.ctx.inferenceGeo });
    this.ctx.charge(built.charge);
    return { type: 'succeeded' as const, message: built.message };
  }
}

function errored(status: number, message: string): { type: 'errored' } & JsonObject {
  return { type: 'errored' as const, error: { type: 'error', error: { type: errorType(status), message }, request_id: null } };
}
