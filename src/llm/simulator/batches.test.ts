import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from './index.js';

let sim: Simulator;
let client: Anthropic;
beforeAll(async () => {
  sim = await startSimulator({ batchDelayMs: 30 });
  client = new Anthropic({ apiKey: 'sk-ant-test-batches', baseURL: sim.url, maxRetries: 0 });
});
afterAll(() => sim.close());
beforeEach(() => sim.reset());

const request = (id: string, content = `question ${id}`) => ({
  custom_id: id,
  params: { model: 'claude-haiku-5-5', max_tokens: 50, messages: [{ role: 'user' as const, content }] },
});

async function waitForEnd(id: string): Promise<Anthropic.Messages.MessageBatch> {
  for (let i = 0; i < 100; i++) {
    const b = await client.messages.batches.retrieve(id);
    if (b.processing_status === 'ended') return b;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('batch never ended');
}

describe('message batches', () => {
  it('create -> poll -> results, with invalid params reported as errored and charges flagged batch', async () => {
    sim.script.when('special', { text: 'scripted batch answer' });
    const created = await client.messages.batches.create({
      requests: [
        request('a'),
        request('b', 'special one'),
        { custom_id: 'bad', params: { model: 'claude-haiku-5-5', messages: [] } as never },
        { custom_id: 'typo', params: { ...request('typo').params, model: 'claude-haiku-5-55' } },
      ],
    });
    expect(created.processing_status).toBe('in_progress');
    expect(created.results_url).toBeNull();
    expect(created.request_counts.processing).toBe(4);

    const ended = await waitForEnd(created.id);
    expect(ended.request_counts).toMatchObject({ processing: 0, succeeded: 2, errored: 2 });
    expect(ended.results_url).toBe(`${sim.url}/v1/messages/batches/${created.id}/results`);

    const results: Anthropic.Messages.MessageBatchIndividualResponse[] = [];
    for await (const r of await client.messages.batches.results(created.id)) results.push(r);
    expect(results.map((r) => [r.custom_id, r.result.type])).toEqual([['a', 'succeeded'], ['b', 'succeeded'], ['bad', 'errored'], ['typo', 'errored']]);
    const b = results[1]!.result;
    expect(b.type === 'succeeded' && b.message.content[0]?.type === 'text' && b.message.content[0].text).toBe('[simulated] scripted batch answer');
    const bad = results[2]!.result;
    expect(bad.type === 'errored' && bad.error.error.type).toBe('invalid_request_error');
    // A model the API does not serve fails that request alone, as the real batch reports it.
    const typo = results[3]!.result;
    expect(typo.type === 'errored' && typo.error.error).toMatchObject({ type: 'not_found_error', message: 'model: claude-haiku-5-55' });

    expect(sim.charges).toHaveLength(2);
    expect(sim.charges.every((c) => c.batch)).toBe(true);
    const a = results[0]!.result;
    expect(a.type === 'succeeded' && a.message.usage.service_tier).toBe('batch');
    expect(sim.stats()).toMatchObject({ batchesCreated: 1, batchRequests: 4, messages: 0 });
  });

  it('cancel before processing yields canceled results and no charges', async () => {
    // Its own simulator with a long delay, so a loaded machine cannot process the batch before the cancel lands.
    const slow = await startSimulator({ batchDelayMs: 400 });
    try {
      const c = new Anthropic({ apiKey: 'k', baseURL: slow.url, maxRetries: 0 });
      const created = await c.messages.batches.create({ requests: [request('x'), request('y')] });
      const canceling = await c.messages.batches.cancel(created.id);
      expect(canceling.processing_status).toBe('canceling');
      let ended = await c.messages.batches.retrieve(created.id);
      for (let i = 0; i < 200 && ended.processing_status !== 'ended'; i++) {
        await new Promise((r) => setTimeout(r, 10));
        ended = await c.messages.batches.retrieve(created.id);
      }
      expect(ended.request_counts).toMatchObject({ canceled: 2, succeeded: 0 });
      const results: string[] = [];
      for await (const r of await c.messages.batches.results(created.id)) results.push(r.result.type);
      expect(results).toEqual(['canceled', 'canceled']);
      expect(slow.charges).toHaveLength(0);
    } finally {
      await slow.close();
    }
  });

  it('a request can end expired or canceled beside succeeded ones: no message, no charge', async () => {
    sim.script.when('too late', { batchResult: 'expired' });
    sim.script.when('dropped', { batchResult: 'canceled' });
    const created = await client.messages.batches.create({ requests: [request('ok'), request('late', 'too late'), request('gone', 'dropped')] });
    const ended = await waitForEnd(created.id);
    expect(ended.request_counts).toMatchObject({ processing: 0, succeeded: 1, expired: 1, canceled: 1, errored: 0 });
    const results: Array<[string, string]> = [];
    for await (const r of await client.messages.batches.results(created.id)) {
      results.push([r.custom_id, r.result.type]);
      if (r.result.type !== 'succeeded') expect(Object.keys(r.result)).toEqual(['type']);
    }
    expect(results).toEqual([['ok', 'succeeded'], ['late', 'expired'], ['gone', 'canceled']]);
    expect(sim.charges).toHaveLength(1);
  });

  it('lists newest first and pages with after_id', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await client.messages.batches.create({ requests: [request(`r${i}`)] })).id);
    const first = await client.messages.batches.list({ limit: 2 });
    expect(first.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    expect(first.has_more).toBe(true);
    const all: string[] = [];
    for await (const b of client.messages.batches.list({ limit: 2 })) all.push(b.id);
    expect(all.slice(0, 3)).toEqual([ids[2], ids[1], ids[0]]);
  });

  it('rejects bad batch bodies and unknown ids', async () => {
    await expect(client.messages.batches.create({ requests: [] })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(client.messages.batches.create({ requests: [request('d'), request('d')] })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(client.messages.batches.retrieve('msgbatch_nope')).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });
});
