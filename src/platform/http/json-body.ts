import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from '../errors.js';

// Fastify reads a JSON body as UTF-8 with replacement: a client sending Latin-1 or
// Windows-1252 bytes had "café" graded, billed and stored as "caf\uFFFD", and a byte
// string nobody meant became a learner's answer. JSON exchanged between systems must be
// UTF-8 (RFC 8259 §8.1), so a body that is not is refused (400 invalid_json) before it is
// parsed. A leading byte-order mark is dropped, as before. Fastify's own parser does the
// rest, prototype-poisoning checks included.
// Stateless between calls (no `stream` option), so one decoder serves every request.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function takesNoBody(request: FastifyRequest): boolean {
  const schema = request.routeOptions.schema;
  return schema?.body === undefined && schema?.docs?.body === undefined;
}

export function installStrictJson(app: FastifyInstance, opts: { emptyIsNull?: boolean } = {}): void {
  const json = app.getDefaultJsonParser('error', 'error');
  // Fastify lets its default parser be overridden once; a plugin scope that has inherited ours must remove it.
  if (app.hasContentTypeParser('application/json')) app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(new BadRequestError('The body is not UTF-8; JSON must be sent as UTF-8.', 'invalid_json'), undefined);
      return;
    }
    // "An empty body works" on some routes (CONTRACT.md) also when the client labels it JSON.
    if (opts.emptyIsNull && text === '') {
      done(null, null);
      return;
    }
    // An operation that takes no body (create a key, revoke one, erase a user, sign out) is
    // called without one; a client that labels every request JSON (many generated ones do)
    // got 400 "The JSON body is empty" for sending nothing. Nothing sent is no body there.
    if (text === '' && takesNoBody(request)) {
      done(null, undefined);
      return;
    }
    json(request, text, done);
  });
}
