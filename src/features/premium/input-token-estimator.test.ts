import { describe, expect, it } from 'vitest';
import { InputTokenEstimator, localTokenEstimate } from './input-token-estimator.js';

describe('InputTokenEstimator', () => {
  it('counts a static prefix once, shared by concurrent first requests, and estimates the rest locally', async () => {
    let calls = 0;
    const est = new InputTokenEstimator({
      countTokens: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return 5000;
      },
    });
    const system = [{ text: 'You grade answers.' }];
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => est.estimate('grading', system, `answer ${i}`, { type: 'object' })));
    expect(calls).toBe(1);
    expect(results[0]).toBe(5000 + localTokenEstimate('answer 0') + 16);
    await est.estimate('grading', system, 'later', { type: 'object' });
    expect(calls).toBe(1);
    await est.estimate('grading', [{ text: 'Another rubric.' }], 'x', { type: 'object' });
    expect(calls).toBe(2);
  });

  it('knows a schema object it has counted for only together with the same feature and system texts', async () => {
    const counted: string[] = [];
    const est = new InputTokenEstimator({
      countTokens: async (feature, system) => {
        counted.push(`${feature}:${system[0]!.text}`);
        return system[0]!.text.length * 100;
      },
    });
    const schema = { type: 'object' };
    const a = await est.estimate('grading', [{ text: 'rubric A' }], 'x', schema);
    const b = await est.estimate('grading', [{ text: 'rubric BB' }], 'x', schema);
    expect(b).toBeGreaterThan(a);
    expect(await est.estimate('grading', [{ text: 'rubric A' }], 'x', schema)).toBe(a);
    await est.estimate('learning_path', [{ text: 'rubric A' }], 'x', schema);
    expect(counted).toEqual(['grading:rubric A', 'grading:rubric BB', 'learning_path:rubric A']);
  });

  it('never lets a low upstream count shrink the reservation below the local bound', async () => {
    const est = new InputTokenEstimator({ countTokens: async () => 1 });
    const text = 'x'.repeat(3000);
    expect(await est.estimate('grading', [{ text }], '', {})).toBeGreaterThanOrEqual(Math.ceil(localTokenEstimate(text) * 0.75));
  });
});

describe('localTokenEstimate', () => {
  it('keeps English at a third of its characters', () => {
    expect(localTokenEstimate('The water evaporated, leaving the salt.')).toBe(Math.ceil(39 / 3));
  });

  it('reserves at least a token per character of Chinese or Japanese, and several per emoji', () => {
    const zh = '水蒸发了，盐留在碗里。因为太阳加热了水。';
    expect(localTokenEstimate(zh)).toBeGreaterThanOrEqual(zh.length);
    expect(localTokenEstimate('涙😀')).toBeGreaterThanOrEqual(3 + 4); // UTF-8 bytes of each
    const mixed = `The salt stays: ${zh}`;
    expect(localTokenEstimate(mixed)).toBe(Math.ceil('The salt stays: '.length / 3) + Buffer.byteLength(zh));
  });
});
