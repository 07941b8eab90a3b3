import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';

// PostgreSQL text cannot hold U+0000 (SQLite can), so a NUL that reached a text column
// failed the request there: after its LLM call had been made and billed, when the
// evaluation was stored. No field of the API has a use for it; it is refused for every
// route and store, after authentication and before anything else reads the request.
export function installNulGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const where = nulIn(request.params, 'params') ?? nulIn(request.query, 'querystring') ?? nulIn(request.body, 'body');
    if (where) throw new ValidationError(`${where} contains a NUL character (U+0000), which no field accepts.`, [{ path: where, message: 'contains U+0000' }]);
  });
}

// Schemas are a few levels deep; a deeper body is refused by its schema anyway.
const MAX_DEPTH = 32;

// The path of the first string (or key) holding U+0000. Raw bodies (the billing webhook's
// signed bytes) are the route's to decode.
function nulIn(v: unknown, path: string, depth = 0): string | undefined {
  if (typeof v === 'string') return v.includes('\u0000') ? path : undefined;
  if (typeof v !== 'object' || v === null || depth > MAX_DEPTH || ArrayBuffer.isView(v)) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = nulIn(v[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, child] of Object.entries(v)) {
    if (k.includes('\u0000')) return `${path} (a key)`;
    const found = nulIn(child, `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}
