// The `fetch` the official SDK is handed: HTTP/1.1 over node:http(s) keep-alive agents.
//
// Why not Node's built-in fetch (undici): per call it builds WHATWG streams for the
// request body (and tees it for a possible replay) and for the response, which cost
// more CPU than the SDK itself. Measured against the simulator on this machine
// (bench/llm-client.bench.ts, "transport" rows): a grading-size call through the SDK
// took ~1.4 ms of CPU with the built-in fetch and ~0.8 ms with this transport. Answers
// are small JSON documents, so a non-streaming answer is read into one buffer; an
// event stream is handed over as a stream, as it arrives.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export interface HttpFetchOptions {
  /** Sockets per upstream host; requests beyond it wait in the agent's queue. */
  maxSockets?: number;
  /** An idle socket is closed after this long, before the server drops it under us. */
  idleSocketMs?: number;
  /** Extra trusted CA (PEM) for this transport only (tests); NODE_EXTRA_CA_CERTS adds CAs process-wide. Verification is never off. */
  ca?: string;
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export function createHttpFetch(opts: HttpFetchOptions = {}): typeof fetch & { close(): void } {
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, timeout: opts.idleSocketMs ?? 30_000, scheduling: 'lifo' as const };
  const agents = { 'http:': new http.Agent(agentOpts), 'https:': new https.Agent({ ...agentOpts, ...(opts.ca ? { ca: opts.ca } : {}) }) };

  const httpFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const agent = agents[url.protocol as keyof typeof agents];
    if (!agent) return Promise.reject(new TypeError(`fetch failed: unsupported protocol ${url.protocol}`));
    const body = sendable(init.body);
    if (body === undefined) return Promise.reject(new TypeError('fetch failed: this transport sends string or byte bodies only'));
    const headers: Record<string, string> = {};
    // The SDK hands over a Headers object already; copying it into another costs ~3 µs.
    (init.headers instanceof Headers ? init.headers : new Headers(init.headers)).forEach((v, k) => (headers[k] = v));
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (length > 0 || (init.method ?? 'GET') !== 'GET') headers['content-length'] = String(length);
    const signal = init.signal ?? undefined;

    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(url, { method: init.method ?? 'GET', headers, agent });
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      // A streamed body still being read when the signal fires ends with the abort error
      // itself: destroying only the request would end it with a bare "aborted", which reads
      // as a network failure rather than our deadline (or the caller) stopping it.
      let streaming: IncomingMessage | undefined;
      const onAbort = () => {
        const err = abortError(signal!);
        streaming?.destroy(err);
        req.destroy(err);
        fail(err);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // Like undici: a network failure is a TypeError('fetch failed') with the cause.
      req.on('error', (err) => fail(signal?.aborted ? abortError(signal) : new TypeError('fetch failed', { cause: err })));
      req.on('response', (res) => {
        const status = res.statusCode ?? 502;
        const resHeaders = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) resHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const init = { status, statusText: res.statusMessage ?? '', headers: resHeaders };
        const done = (r: Response) => {
          if (settled) return;
          settled = true;
          resolve(r);
        };
        if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          // Aborting later destroys the request, which ends this stream with the abort error.
          streaming = res;
          res.on('close', () => signal?.removeEventListener('abort', onAbort));
          done(new Response(NULL_BODY_STATUS.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), init));
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => fail(signal?.aborted ? abortError(signal) : new TypeError('fetch failed', { cause: err })));
        res.on('end', () => {
          signal?.removeEventListener('abort', onAbort);
          const bytes = Buffer.concat(chunks);
          if (NULL_BODY_STATUS.has(status)) done(new Response(null, init));
          else if (isJson(res.headers['content-type'])) done(new JsonResponse(bytes, init));
          else done(new Response(bytes, init));
        });
      });
      req.end(body);
    });
  };
  return Object.assign(httpFetch as typeof fetch, {
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  });
}

// A whole JSON answer already in memory. A Response built on bytes wraps them in a WHATWG
// stream (and makes it transferable) only for the SDK to read it back at once; this one
// answers text(), json() and arrayBuffer() from the buffer and has no stream: `body` is
// null, which the SDK's parser never reads for a JSON answer (its abandonment backstop
// then watches the response itself). Other answers (batch results in JSONL, which the
// SDK reads as a stream) get a plain Response. ~2 % of the service's CPU per cache miss
// in the bench's profile of scenario 4.
class JsonResponse extends Response {
  readonly #bytes: Buffer;
  #used = false;

  constructor(bytes: Buffer, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
  }

  override get bodyUsed(): boolean {
    return this.#used;
  }

  override async text(): Promise<string> {
    return this.#take().toString('utf8');
  }

  override async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  #take(): Buffer {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes;
  }
}

function isJson(contentType: string | undefined): boolean {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

// A string (the SDK's JSON) is written to the socket as it is, as UTF-8: no copy of a
// grading prompt (~12 KB) into a Buffer on the way.
function sendable(b: RequestInit['body']): string | Buffer | undefined {
  if (b === undefined || b === null) return Buffer.alloc(0);
  if (typeof b === 'string') return b;
  if (b instanceof ArrayBuffer) return Buffer.from(b);
  if (ArrayBuffer.isView(b)) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return undefined;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
