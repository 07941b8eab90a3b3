import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';

// No query parameter of the API takes several values (lists are comma-separated, as in
// groupBy=user,day). A repeated one (?limit=1&limit=2) arrives as an array and failed
// its schema as "expected number, received NaN" or "received array", which names neither
// the cause nor the fix. Only routes that declare a querystring are checked: the others
// ignore the query altogether.
export function installSingleQueryValues(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (!request.routeOptions.schema?.querystring) return;
    const repeated = Object.entries(request.query as Record<string, unknown>).filter(([, v]) => Array.isArray(v));
    if (repeated.length === 0) return;
    const errors = repeated.map(([k, v]) => ({ path: `querystring.${k.slice(0, 100)}`, message: `given ${(v as unknown[]).length} times; give it once` }));
    throw new ValidationError(`Invalid request: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 1000), errors);
  });
}
