import { describe, expect, it } from 'vitest';
import { createLimitAbuseDetector, type LimitAbuseEvent } from './limit-abuse-detector.js';

const refused = { allowed: false, violated: 'requestsPerMinute' as const };
const allowed = { allowed: true };

describe('limit abuse detector', () => {
  it('alerts once per user per window when the user keeps hitting limits', () => {
    let t = 0;
    const alerts: LimitAbuseEvent[] = [];
    const detector = createLimitAbuseDetector({ threshold: 5, windowSec: 60, onAlert: (e) => alerts.push(e), now: () => t });
    for (let i = 0; i < 4; i++) detector.observe('free', 'free:grading:u1', refused);
    expect(alerts).toEqual([]);
    for (let i = 0; i < 20; i++) detector.observe('free', 'free:grading:u1', refused);
    detector.observe('free', 'free:grading:u2', refused); // another user below threshold
    expect(alerts.filter((a) => a.kind === 'user')).toEqual([
      { kind: 'user', key: 'free:grading:u1', tier: 'free', rejections: 5, windowSec: 60, lastViolated: 'requestsPerMinute' },
    ]);
    t += 60_000; // next window: the same user may alert again
    for (let i = 0; i < 5; i++) detector.observe('free', 'free:grading:u1', refused);
    expect(alerts.filter((a) => a.kind === 'user')).toHaveLength(2);
  });

  it('alerts once when a tier’s rejection ratio passes the threshold, given enough decisions', () => {
    const alerts: LimitAbuseEvent[] = [];
    const detector = createLimitAbuseDetector({
      threshold: 1000,
      windowSec: 60,
      onAlert: (e) => alerts.push(e),
      tierRatioThreshold: 0.25,
      tierMinDecisions: 20,
      now: () => 0,
    });
    for (let i = 0; i < 15; i++) detector.observe('premium', `premium:grading:u${i}`, allowed);
    for (let i = 0; i < 4; i++) detector.observe('premium', `premium:grading:u${i}`, refused);
    expect(alerts).toEqual([]); // 4/19 is under 25% and under the sample floor anyway
    for (let i = 0; i < 10; i++) detector.observe('premium', 'premium:grading:x', refused);
    expect(alerts).toEqual([{ kind: 'tier', tier: 'premium', rejected: 6, total: 21, ratio: 6 / 21, windowSec: 60 }]);
    detector.observe('free', 'free:grading:x', refused); // other tier unaffected
    expect(alerts).toHaveLength(1);
  });

  it('survives an alert sink that throws', () => {
    const detector = createLimitAbuseDetector({ threshold: 1, windowSec: 60, onAlert: () => { throw new Error('sink down'); } });
    expect(() => detector.observe('free', 'k', refused)).not.toThrow();
  });
});
