import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import type { FastifyContextConfig } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_PARAM_LENGTH } from './error-handler.js';

// How the OpenAPI document learns what Fastify does not know: the real success status and
// body, the problem+json errors, who may call, and bodies a route parses itself.
//
// All of it lives in `schema.docs`, which only the swagger transform below reads. A
// `response` schema would not do: fastify-type-provider-zod compiles it into a serializer
// that safeEncodes every answer through zod before JSON.stringify, which costs each request
// a walk of its answer, drops fields the schema does not list, and turns a mismatch into a
// 500. Likewise a body schema here never validates anything; `schema.body` still does that.

declare module 'fastify' {
  interface FastifySchema {
    /** OpenAPI only; Fastify never compiles or enforces it (see openapi.ts). */
    docs?: RouteDocs;
  }
}

/** A schema put in components.schemas under `name` and referenced from where it is used. */
export interface NamedSchema {
  name: string;
  schema: z.ZodType;
  /** 'input' for what clients send (defaults apply), 'output' for what they receive. */
  io: 'input' | 'output';
}
export type DocSchema = z.ZodType | NamedSchema;

export const named = (name: string, schema: z.ZodType, io: 'input' | 'output' = 'output'): NamedSchema => ({ name, schema, io });

export interface DocResponse {
  description: string;
  /** By media type; none for an answer without a body (204). */
  content?: Record<string, DocSchema>;
  headers?: Record<string, string>;
}

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 414 | 415 | 422 | 429 | 500 | 503;

export interface RouteDocs {
  /** Success answers by status. Without it: 200 with a JSON body whose shape is not documented. */
  responses?: Record<number, DocResponse>;
  /** The body of a route that reads its own (signed bytes, YAML). Never give such a route `schema.body`. */
  body?: { description?: string; content: Record<string, DocSchema> };
  /** The body may be left out (an empty request); `schema.body` still checks what is sent. */
  bodyOptional?: boolean;
  /** Goes through the premium pipeline: rate limits and budgets, RateLimit headers. */
  limited?: boolean;
  /** Error answers beyond what the route's access config and schema imply, with their meaning. */
  errors?: Partial<Record<ErrorStatus, string>>;
  /** Error answers that say when to retry (Retry-After) besides 429 and 503, which always do. */
  retryAfter?: ErrorStatus[];
}

// RFC 9457, as platform/http/problem.ts builds it. Extra members (limit, retryAfterSec,
// feature, allowed...) depend on the code, so the object stays open.
export const ProblemSchema = z
  .looseObject({
    type: z.string().meta({ description: 'urn:tutorgate:problem:<code>' }),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().meta({ description: 'Stable, e.g. premium_required, rate_limited, budget_exhausted, validation_failed' }),
    requestId: z.string().meta({ description: 'Also in the x-request-id response header' }),
  })
  .meta({ description: 'RFC 9457 problem details' });

export const ValidationProblemSchema = ProblemSchema.extend({
  errors: z.array(z.strictObject({ path: z.string().meta({ description: 'Where the request failed its schema: body.answer, querystring.from, params.id; a check made after the schema names the body field alone (question, goal, levels.c)' }), message: z.string() })),
}).meta({ description: 'RFC 9457 problem details of a request that failed validation (code validation_failed)' });

const PROBLEM = named('Problem', ProblemSchema);
const VALIDATION_PROBLEM = named('ValidationProblem', ValidationProblemSchema);


// What @fastify/swagger cannot say about a request body (it marks every body required and
// drops the description of a body given by media type): carried to transformObject on the
// operation under this key, applied there, then removed.
const REQUEST_BODY = 'x-tutorgate-request-body';

export interface OpenApiOptions {
  /** The dashboard's session cookie. */
  sessionCookie: string;
  /** The header carrying the billing webhook's HMAC signature. */
  signatureHeader: string;
}

export function securitySchemes(o: OpenApiOptions) {
  return {
    bearer: { type: 'http', scheme: 'bearer', description: 'An API key (tg_…) or a JWT. Tier and roles come from the store, not from the token.' },
    session: {
      type: 'apiKey',
      in: 'cookie',
      name: o.sessionCookie,
      description:
        'The admin dashboard session (POST /admin/session sets it). Accepted by the routes that list it, reads only, except PUT /v1/admin/flags/{key}, which also needs the x-csrf-token header and a same-origin request.',
    },
    billingSignature: {
      type: 'apiKey',
      in: 'header',
      name: o.signatureHeader,
      description: `The payment provider's signature: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the webhook secret>" (several v1= while the secret rotates); t must be within 300 s of the server's clock.`,
    },
  } as const;
}

type Json = Record<string, unknown>;

function toJson(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  return json;
}

const ERROR_TEXT: Record<ErrorStatus, string> = {
  400: 'bad_request or invalid_json: the request or its body is malformed',
  401: 'unauthorized: no or bad credentials',
  403: 'forbidden: not allowed',
  404: 'not_found: no such resource (also another user\'s)',
  409: 'conflict',
  413: 'body_too_large: the body exceeds the size limit',
  414: `uri_too_long: a path segment is longer than ${MAX_PARAM_LENGTH} characters`,
  415: 'unsupported_media_type: the body has a media type this route does not take, or a Content-Encoding (the body must be sent uncompressed)',
  422: 'validation_failed: the request is invalid (a query parameter given twice included); errors[] names each failing field',
  429: 'rate_limited: too many failed credential checks from this address (limit authFailuresPerMinute); Retry-After says when to try again',
  500: 'internal: an unexpected error, logged under the request id',
  503: 'service_unavailable: the store cannot be reached, or shutting_down: this instance is draining (another takes the retry); retry shortly',
};

interface Access {
  auth: boolean;
  session: 'none' | 'read' | 'write';
  permission: string | undefined;
  feature: string | undefined;
}

function accessOf(config: FastifyContextConfig | undefined): Access {
  return {
    auth: config?.auth === 'required',
    session: config?.allowSessionWrite === true ? 'write' : config?.allowSession === true ? 'read' : 'none',
    permission: config?.permission,
    feature: config?.feature,
  };
}

// Fastify reads a body sent with these methods before any handler runs, also where the
// operation takes none (a client that sends one anyway gets the body's 400, 413 or 415).
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const NO_BODY = ' (this operation takes no body; one that is sent is still read)';

function errorsOf(methods: string[], access: Access, schema: { body?: unknown; querystring?: unknown; params?: unknown }, docs: RouteDocs | undefined): Map<ErrorStatus, string> {
  const errors = new Map<ErrorStatus, string>();
  const hasBody = schema.body !== undefined || docs?.body !== undefined;
  const bodyRead = hasBody || methods.some((m) => BODY_METHODS.has(m.toUpperCase()));
  const bad = [
    ...(bodyRead ? [ERROR_TEXT[400] + (hasBody ? '' : NO_BODY)] : []),
    ...(access.auth ? ['ambiguous_credentials: more than one Authorization header'] : []),
  ];
  if (bad.length) errors.set(400, bad.join('; '));
  if (bodyRead) {
    errors.set(413, ERROR_TEXT[413] + (hasBody ? '' : NO_BODY));
    errors.set(415, ERROR_TEXT[415] + (hasBody ? '' : NO_BODY));
  }
  if (access.auth) errors.set(401, ERROR_TEXT[401]);
  const forbidden = [
    ...(access.permission ? [`forbidden: the caller lacks the "${access.permission}" permission`] : []),
    ...(access.feature ? [`premium_required: the caller's tier does not include "${access.feature}"`] : []),
    ...(access.session === 'write' ? ['forbidden: a change through the dashboard session without a same-origin request and its x-csrf-token'] : []),
  ];
  if (forbidden.length) errors.set(403, forbidden.join('; '));
  if (schema.params !== undefined) {
    errors.set(404, ERROR_TEXT[404]);
    errors.set(414, ERROR_TEXT[414]);
  }
  if (hasBody || schema.querystring !== undefined || schema.params !== undefined) errors.set(422, ERROR_TEXT[422]);
  if (docs?.limited) {
    errors.set(429, `rate_limited: over a limit of the caller's tier (limit names it), or budget_exhausted when the policy rejects on a spent budget; Retry-After says when to try again`);
  } else if (access.auth) errors.set(429, ERROR_TEXT[429]);
  errors.set(500, ERROR_TEXT[500]);
  errors.set(503, ERROR_TEXT[503]);
  for (const [status, text] of Object.entries(docs?.errors ?? {})) errors.set(Number(status) as ErrorStatus, text);
  return errors;
}

const RATE_LIMIT_HEADERS: Record<string, Json> = {
  RateLimit: { type: 'string', description: 'IETF httpapi draft: the tightest request window, e.g. "minute";r=12;t=40' },
  'RateLimit-Policy': { type: 'string', description: 'IETF httpapi draft: the request windows, e.g. "minute";q=30;w=60, "hour";q=600;w=3600' },
};
const RETRY_AFTER: Json = { type: 'integer', minimum: 1, description: 'Seconds to wait before retrying' };

/**
 * The swagger `transform` and `transformObject` pair. They share the components the routes
 * name while one document is built (the plugin calls transform for every route, then
 * transformObject once, and caches the document).
 */
export function openApiTransforms(o: OpenApiOptions): { transform: SwaggerTransform; transformObject: SwaggerTransformObject } {
  let components = new Map<string, Json>();
  const ref = (s: DocSchema, io: 'input' | 'output'): Json => {
    if (s instanceof z.ZodType) return toJson(s, io);
    if (!components.has(s.name)) components.set(s.name, toJson(s.schema, s.io));
    return { $ref: `#/components/schemas/${s.name}` };
  };
  const content = (c: Record<string, DocSchema>, io: 'input' | 'output') => Object.fromEntries(Object.entries(c).map(([type, s]) => [type, { schema: ref(s, io) }]));

  const transform: SwaggerTransform = (document) => {
    const { schema, route } = document;
    if (!schema || schema.hide) return jsonSchemaTransform(document);
    const { docs, ...fastifySchema } = schema;
    const out = jsonSchemaTransform({ ...document, schema: fastifySchema });
    const s = out.schema as Json;
    const access = accessOf(route.config as FastifyContextConfig | undefined);

    if (docs?.body) s.body = { ...(docs.body.description ? { description: docs.body.description } : {}), content: content(docs.body.content, 'input') };
    if (docs?.bodyOptional || docs?.body?.description) s[REQUEST_BODY] = { ...(docs.bodyOptional ? { required: false } : {}), ...(docs.body?.description ? { description: docs.body.description } : {}) };
    if (access.session === 'write') {
      s.headers = { type: 'object', properties: { 'x-csrf-token': { type: 'string', description: 'With the session cookie only: the token POST /admin/session (or GET /admin/session) handed out' } } };
    }

    const response: Json = {};
    for (const [status, r] of Object.entries(docs?.responses ?? { 200: { description: 'OK', content: { 'application/json': z.unknown() } } })) {
      const headers = { ...Object.fromEntries(Object.entries(r.headers ?? {}).map(([name, description]) => [name, { type: 'string', description }])), ...(docs?.limited ? RATE_LIMIT_HEADERS : {}) };
      response[status] = {
        description: r.description,
        ...(r.content ? { content: content(r.content, 'output') } : { type: 'null' }),
        ...(Object.keys(headers).length ? { headers } : {}),
      };
    }
    for (const [status, text] of errorsOf([route.method].flat().map(String), access, fastifySchema, docs)) {
      if (status in response) continue; // the route documents this answer itself (e.g. /readyz's 503)
      const problem = ref(status === 422 ? VALIDATION_PROBLEM : PROBLEM, 'output');
      response[status] = {
        description: text,
        content: { 'application/problem+json': { schema: problem } },
        ...(status === 401 && access.auth ? { headers: { 'WWW-Authenticate': { type: 'string', description: 'Bearer' } } } : {}),
        ...(status === 429 ? { headers: { 'Retry-After': RETRY_AFTER, ...(docs?.limited ? RATE_LIMIT_HEADERS : {}) } } : {}),
        ...(status === 503 || docs?.retryAfter?.includes(status) ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
      };
    }
    s.response = response;

    // Every operation says who may call it, so none inherits the document's default by accident.
    if (!s.security) s.security = access.auth ? [{ bearer: [] }, ...(access.session !== 'none' ? [{ session: [] }] : [])] : [];
    return out;
  };

  const transformObject: SwaggerTransformObject = (documentObject) => {
    if (!('openapiObject' in documentObject)) throw new Error('tutorgate documents OpenAPI 3.1 only');
    const doc = documentObject.openapiObject as Json & { paths: Record<string, Record<string, Json>>; components: Json & { schemas?: Json } };
    for (const s of [PROBLEM, VALIDATION_PROBLEM]) ref(s, s.io);
    doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, ...Object.fromEntries(components) } };
    components = new Map();
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        const fix = op[REQUEST_BODY] as Json | undefined;
        if (!fix) continue;
        delete op[REQUEST_BODY];
        if (op.requestBody) Object.assign(op.requestBody, fix);
      }
    }
    return doc;
  };

  return { transform, transformObject };
}
