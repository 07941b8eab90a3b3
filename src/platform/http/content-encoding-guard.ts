import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors.js';

// No route decodes a compressed request body, and Fastify ignores Content-Encoding: a
// gzip body reached the JSON parser as bytes ("not valid JSON", which misleads a client
// whose JSON is fine), and a body labelled br or deflate that happened to be plain JSON was
// acted on as if the label were not there. A coding we do not apply is refused with 415
// and Accept-Encoding: identity (RFC 9110 §15.5.16, RFC 7694), before the body is read.
export function installContentEncodingGuard(app: FastifyInstance): void {
  app.addHook('preParsing', async (request) => {
    const header = request.headers['content-encoding'];
    if (header === undefined || !hasBody(request.headers)) return;
    const codings = header.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
    if (codings.length === 0) return;
    const named = codings.join(', ').replace(/[^a-z0-9_.+, -]/g, '?').slice(0, 60);
    throw new AppError('unsupported_media_type', 415, `Content-Encoding "${named}" is not supported; send the body uncompressed.`, undefined, { 'accept-encoding': 'identity' });
  });
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
