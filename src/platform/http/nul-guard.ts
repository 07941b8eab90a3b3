import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import { LONE_SURROGATE, NUL, UNSTORABLE, findString as nulIn } from '../unstorable-text.js';

// PostgreSQL text cannot hold U+0000 (SQLite can), so a NUL that reached a text column
// failed the request there: after its LLM call had been made and billed, when the
// evaluation was stored. No field of the API has a use for it; it is refused for every
// route and store, after authentication and before anything else reads the request.
//
// A lone UTF-16 surrogate ("\ud800" in JSON, without its pair) is not text either: JSON.parse
// takes it, but the Anthropic API refuses the whole request ("no low surrogate in string",
// 400), so the learner silently got a rules answer, and both stores keep U+FFFD in its
// place, so the stored answer was not the one graded. It is refused the same way.
//
// Only what the route reads is looked at: its path parameters, its query when it declares
// one, its body when it takes one. A route that ignores the query (or a body sent to a route
// that takes none) stores nothing of it, and refusing it there answered a 422 its OpenAPI
// operation does not list (GET /v1/me?x=%00), as single-query-values.ts already does.
export function installNulGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema;
    const query = schema?.querystring !== undefined ? request.query : undefined;
    const body = schema?.body !== undefined || schema?.docs?.body !== undefined ? request.body : undefined;
    // One pass for both; which of them it is, and where, is looked for only when one is there.
    if (!(nulIn(request.params, 'params', UNSTORABLE) ?? nulIn(query, 'querystring', UNSTORABLE) ?? nulIn(body, 'body', UNSTORABLE))) return;
    const nul = nulIn(request.params, 'params', NUL) ?? nulIn(query, 'querystring', NUL) ?? nulIn(body, 'body', NUL);
    if (nul) throw new ValidationError(`${nul} contains a NUL character (U+0000), which no field accepts.`, [{ path: nul, message: 'contains U+0000' }]);
    const lone = nulIn(request.params, 'params', LONE_SURROGATE) ?? nulIn(query, 'querystring', LONE_SURROGATE) ?? nulIn(body, 'body', LONE_SURROGATE);
    if (lone) throw new ValidationError(`${lone} contains a lone UTF-16 surrogate (half of a character, such as \\ud800 without its pair), which is not text; send it as UTF-8 or escape the whole pair.`, [{ path: lone, message: 'contains a lone surrogate' }]);
  });
}
