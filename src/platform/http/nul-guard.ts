import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';

// PostgreSQL text cannot hold U+0000 (SQLite can), so a NUL that reached a text column
// failed the request there: after its LLM call had been made and billed, when the
// evaluation was stored. No field of the API has a use for it; it is refused for every
// route and store, after authentication and before anything else reads the request.
//
// A lone UTF-16 surrogate ("\ud800" in JSON, without its pair) is not text either: JSON.parse
// takes it, but the Anthropic API refuses the whole request ("no low surrogate in string",
// 400), so the learner silently got a rules answer, and both stores keep U+FFFD in its
// place, so the stored answer was not the one graded. It is refused the same way.
export function installNulGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const nul = nulIn(request.params, 'params', NUL) ?? nulIn(request.query, 'querystring', NUL) ?? nulIn(request.body, 'body', NUL);
    if (nul) throw new ValidationError(`${nul} contains a NUL character (U+0000), which no field accepts.`, [{ path: nul, message: 'contains U+0000' }]);
    const lone = nulIn(request.params, 'params', LONE_SURROGATE) ?? nulIn(request.query, 'querystring', LONE_SURROGATE) ?? nulIn(request.body, 'body', LONE_SURROGATE);
    if (lone) throw new ValidationError(`${lone} contains a lone UTF-16 surrogate (half of a character, such as \\ud800 without its pair), which is not text; send it as UTF-8 or escape the whole pair.`, [{ path: lone, message: 'contains a lone surrogate' }]);
  });
}

const NUL = /\u0000/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// Schemas are a few levels deep; a deeper body is refused by its schema anyway.
const MAX_DEPTH = 32;

// The path of the first string (or key) holding a character `bad` matches. Raw bodies (the billing webhook's
// signed bytes) are the route's to decode.
function nulIn(v: unknown, path: string, bad: RegExp, depth = 0): string | undefined {
  if (typeof v === 'string') return bad.test(v) ? path : undefined;
  if (typeof v !== 'object' || v === null || depth > MAX_DEPTH || ArrayBuffer.isView(v)) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = nulIn(v[i], `${path}[${i}]`, bad, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, child] of Object.entries(v)) {
    if (bad.test(k)) return `${path} (a key)`;
    const found = nulIn(child, `${path}.${k}`, bad, depth + 1);
    if (found) return found;
  }
  return undefined;
}
