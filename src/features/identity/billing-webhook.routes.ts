import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../../platform/clock.js';
import type { Db } from '../../platform/db/database.js';
import { AppError, BadRequestError, ServiceUnavailableError, UnauthorizedError, ValidationError } from '../../platform/errors.js';
import { named } from '../../platform/http/openapi.js';
import { applyBillingEvent, billingEventSchema, TOLERANCE_SEC, verifySignature } from './billing-webhook.js';

// Documentation only (see platform/http/openapi.ts). The body is read as raw bytes (the
// signature covers them), so it is documented here and never declared to Fastify.
const WEBHOOK_DOCS = {
  body: { description: 'One event, exactly the bytes the signature covers', content: { 'application/json': named('BillingEvent', billingEventSchema, 'input') } },
  responses: {
    200: {
      description: 'Accepted; outcome says what was done with it (a replayed event id is a duplicate, and changes nothing; ignored: recorded, with nothing to change, e.g. a failed payment of no paying subscription, or a cancel for a user who is not here, who is not created)',
      content: { 'application/json': z.strictObject({ received: z.literal(true), outcome: z.enum(['applied', 'duplicate', 'superseded', 'ignored']) }) },
    },
  },
  errors: {
    400: 'bad_request or invalid_json: the body is not JSON (or not UTF-8)',
    401: 'unauthorized: the Tutorgate-Signature header is missing, malformed or wrong; stale_signature: its timestamp is more than 300 s from the server clock',
    422: 'validation_failed: not a valid event (errors[] names the fields), or created is in the future',
    503: 'service_unavailable: the webhook is not configured (TUTORGATE_WEBHOOK_SECRET), or the store cannot be reached',
  },
} as const;

// The signature covers the exact bytes sent, so this plugin keeps the raw body and
// parses JSON itself, after the signature is checked.
export function billingWebhookRoutes(deps: { db: Db; clock: Clock; secret: string | undefined }): FastifyPluginAsync {
  return async (app) => {
    app.removeContentTypeParser('application/json'); // the app's strict UTF-8 parser, inherited
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    app.post('/v1/webhooks/billing', { schema: { tags: ['billing'], summary: 'Subscription events from the payment provider (HMAC-signed)', security: [{ billingSignature: [] }], docs: WEBHOOK_DOCS } }, async (request, reply) => {
      if (!deps.secret) throw new ServiceUnavailableError('The billing webhook is not configured (TUTORGATE_WEBHOOK_SECRET).');
      const raw = request.body as Buffer | undefined;
      if (!Buffer.isBuffer(raw)) throw new BadRequestError('Send the event as application/json.');
      const header = request.headers['tutorgate-signature'];
      const check = verifySignature(typeof header === 'string' ? header : undefined, raw, deps.secret, deps.clock.now());
      if (check !== 'ok') {
        request.log.warn({ check }, 'billing webhook refused');
        throw check === 'stale' ? new AppError('stale_signature', 401, 'The signature timestamp is outside the tolerance.') : new UnauthorizedError('Missing or invalid webhook signature.');
      }
      let json: unknown;
      try {
        // Fatal decoding: the event applied must be exactly the bytes that were signed.
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
      } catch {
        throw new BadRequestError('The body is not valid JSON.', 'invalid_json');
      }
      const parsed = billingEventSchema.safeParse(json);
      if (!parsed.success) {
        const errors = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
        throw new ValidationError(`Invalid event: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
      }
      // An event from the future would stand as the newest for that user and supersede
      // every real one until then.
      if (parsed.data.created > deps.clock.now() / 1000 + TOLERANCE_SEC) throw new ValidationError('Invalid event: created: after the time it was signed', [{ path: 'created', message: 'in the future' }]);
      const outcome = await applyBillingEvent(deps.db, parsed.data, deps.clock.now());
      return reply.status(200).send({ received: true, outcome });
    });
  };
}
