// Baseline for `npm run bench` scenario 0d: the least a service can do per premium cache
// miss — one Fastify route that makes one Messages API call through the official SDK (with
// the same transport as the service) and returns the answer's text. No authentication,
// storage, limits, budgets, cache or validation. Its throughput is the ceiling any gateway
// using the SDK can reach on this machine, and the gap to scenario 4 is what the pipeline
// costs. Usage: node --import tsx bench/bare-proxy.ts PORT SIMULATOR_URL API_KEY
import Anthropic from '@anthropic-ai/sdk';
import Fastify from 'fastify';
import { createHttpFetch } from '../src/llm/client/http-transport.js';
import { demoRubric, upstreamGradingBody } from './fixtures.js';

const [port, simUrl, apiKey] = process.argv.slice(2);
const sdk = new Anthropic({ apiKey, baseURL: simUrl, maxRetries: 0, logLevel: 'off', fetch: createHttpFetch() });
const rubric = demoRubric();
const app = Fastify({ logger: false });
app.post('/grade', async (request) => {
  const { answer } = request.body as { answer: string };
  const message = await sdk.messages.create(upstreamGradingBody(rubric, answer) as never);
  const block = message.content[0];
  return { text: block?.type === 'text' ? block.text : '', usage: message.usage };
});
await app.listen({ port: Number(port ?? 0), host: '127.0.0.1' });
console.log('bare proxy listening');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
