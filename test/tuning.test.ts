// The tuner's schedule on made-up timings (no GPU): interleaved rounds in a rotated order, the cut of
// clearly slow versions, extra rounds for a close pair, and a choice a busy phase of the machine does
// not decide; the cache key's feature set and the lines describeTuning prints.
import { describe, expect, it } from 'vitest';
import { decisionText, describeTuning, roundOrder, runSpread, timeInRounds, tuningFeatures, tuningMargin, type TuningTable } from '../src/engine/tuning.js';

/** A clock of made-up kernel times: `cost[v]` per run, times the machine's load at that moment. */
function fakeClock(cost: Record<string, number>, load: (call: number) => number = () => 1) {
  const calls: string[] = [];
  const time = async (v: string) => {
    calls.push(v);
    return cost[v] * load(calls.length - 1);
  };
  return { calls, time };
}

describe('timeInRounds', () => {
  it('one warm-up each, then rounds in a rotated order; a version over 2× the best is out after the first round', async () => {
    const clock = fakeClock({ a: 10, b: 5, c: 30, d: 8 });
    const r = await timeInRounds(['a', 'b', 'c', 'd'], clock.time, { rounds: 3 });
    expect(r.choice).toBe('b');
    expect(r.cut).toEqual(['c']);
    // Warm-up, round 0 (all), round 1 rotated by 1, round 2 rotated by 2, of the three left.
    expect(clock.calls).toEqual(['a', 'b', 'c', 'd', 'a', 'b', 'c', 'd', 'b', 'd', 'a', 'd', 'a', 'b']);
    expect(Object.fromEntries(Object.entries(r.ms).map(([v, ms]) => [v, ms.length]))).toEqual({ a: 3, b: 3, c: 1, d: 3 });
    expect(r.extraRounds).toBe(0);
  });

  it('the best two within 10% run extra rounds, up to the cap', async () => {
    const clock = fakeClock({ a: 10, b: 10.5, c: 15 });
    const r = await timeInRounds(['a', 'b', 'c'], clock.time, { rounds: 3, extraRounds: 4 });
    expect(r.choice).toBe('a');
    expect(r.extraRounds).toBe(4);
    expect(r.ms.a).toHaveLength(7);
    expect(r.ms.b).toHaveLength(7);
    expect(r.ms.c).toHaveLength(3);
  });

  it('when the fastest run and the median disagree on the best, those two run extra rounds', async () => {
    // a's timed runs: 10, then 30 (one quiet moment); b's: 12 each. By min a leads by 20%, by median b,
    // and b is faster in four of the five rounds.
    const aRuns = [10, 10, 30, 30];
    let aCall = 0;
    const r = await timeInRounds(['a', 'b'], async (v) => (v === 'a' ? (aRuns[aCall++] ?? 30) : 12), { extraRounds: 2 });
    expect(r.extraRounds).toBe(2);
    expect(r.ms.a).toHaveLength(5);
    expect(r.choice).toBe('b');
    expect(r.decision).toEqual({ by: 'rounds', against: 'a', won: 4, of: 5 });
  });

  it('a slow phase of the machine does not decide: the version that ran then still wins', async () => {
    // b is 10% faster, but the machine is 3× slower for a stretch of calls. Run one after the other
    // (the old tuner: a's four runs, then b's four) b would take the whole slow phase and lose.
    const slow = (call: number) => (call >= 4 && call < 10 ? 3 : 1);
    const clock = fakeClock({ a: 10, b: 9 }, slow);
    const r = await timeInRounds(['a', 'b'], clock.time);
    expect(r.choice).toBe('b');
    const sequential = { a: [0, 1, 2, 3].map((i) => 10 * slow(i)), b: [4, 5, 6, 7].map((i) => 9 * slow(i)) };
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[1];
    expect(median(sequential.b.slice(1))).toBeGreaterThan(median(sequential.a.slice(1)));
  });

  it('the cut goes by the faster of the warm-up and the first run: one run slowed tenfold does not throw out the best', async () => {
    // Calls 0–1 warm-up, 2–3 the first round: b's first timed run (call 3) hits a busy spell.
    const clock = fakeClock({ a: 10, b: 6 }, (call) => (call === 3 ? 10 : 1));
    const r = await timeInRounds(['a', 'b'], clock.time);
    expect(r.cut).toEqual([]);
    expect(r.choice).toBe('b');
  });

  it('a lead by the fastest run alone (one version caught an idle moment) is not enough: extra rounds', async () => {
    // a: 5 once (its second timed run), else 14; b: 13 each. By min a leads by 160%, by median b by 7%.
    let aCall = 0;
    const r = await timeInRounds(['a', 'b'], async (v) => (v === 'a' ? (aCall++ === 2 ? 5 : 14) : 13), { extraRounds: 3 });
    expect(r.extraRounds).toBe(3);
    expect(r.ms.b).toHaveLength(6);
    expect(r.choice).toBe('b');
  });

  it('unsettled by the fastest runs and the medians, the rounds decide head to head', async () => {
    // The machine is busy (×3) but for one idle moment (×1); a is 10% faster than b in every round, but
    // b alone caught the idle moment (its run in the second round, call 4 after two warm-ups and a round).
    let call = 0;
    const idle = new Set([4]);
    const r = await timeInRounds(['a', 'b'], async (v) => (v === 'a' ? 10 : 11) * (idle.has(call++) ? 1 : 3), { extraRounds: 2 });
    expect(r.choice).toBe('a');
    expect(r.decision).toEqual({ by: 'rounds', against: 'b', won: 4, of: 5 });
  });

  it('ties go to the earlier version (the kernel default order)', async () => {
    const r = await timeInRounds(['x', 'y'], fakeClock({ x: 4, y: 4 }).time, { extraRounds: 0 });
    expect(r.choice).toBe('x');
  });
});

describe('tuning helpers', () => {
  it('roundOrder rotates; runSpread and tuningMargin', () => {
    expect(roundOrder(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(roundOrder(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
    expect(runSpread([3, 1, 2, 5])).toEqual({ minMs: 1, medianMs: 2, maxMs: 5, runs: 4 });
    expect(tuningMargin({ a: 2, b: 2.5, c: 4 }, 'a')).toEqual({ next: 'b', margin: 0.25 });
    expect(decisionText({ a: 2, b: 2.5 }, 'a', { by: 'fastest' })).toBe('25% ahead of b');
    expect(decisionText({ a: 2, b: 1.9 }, 'a', { by: 'rounds', against: 'b', won: 5, of: 7 })).toBe('faster in 5 of 7 rounds against b');
  });

  it('the key names the features that change tuning, sorted, and no others', () => {
    expect(tuningFeatures(new Set(['timestamp-query', 'subgroups', 'core-features-and-limits', 'shader-f16']))).toBe('shader-f16+subgroups+timestamp-query');
    expect(tuningFeatures(new Set())).toBe('no features');
  });

  it('describeTuning: one line per choice with its margin and spread', () => {
    const table: TuningTable = {
      key: 'k',
      model: 'vgg16',
      created: '2025-01-01T00:00:00.000Z',
      tookMs: 1234,
      timing: 'gpu-timestamp',
      choices: { 'conv3x3BiasRelu|14×14×512→512': 'blocked16' },
      timings: { 'conv3x3BiasRelu|14×14×512→512': { blocked: 1.2, blocked16: 1, tiled: 3 } },
      decisions: { 'conv3x3BiasRelu|14×14×512→512': { by: 'fastest' } },
      spread: {
        'conv3x3BiasRelu|14×14×512→512': {
          blocked: { minMs: 1.2, medianMs: 1.3, maxMs: 1.5, runs: 3 },
          blocked16: { minMs: 1, medianMs: 1.1, maxMs: 1.25, runs: 3 },
          tiled: { minMs: 3, medianMs: 3, maxMs: 3, runs: 1 },
        },
      },
    };
    expect(describeTuning({ choices: table.choices, source: 'tuned', table }, 'cache.json')).toEqual([
      'kernel choices tuned now in 1.2 s, saved to cache.json',
      '  conv3x3BiasRelu|14×14×512→512 → blocked16 (20% ahead of blocked; 1.00–1.25 ms in 3 runs)',
    ]);
  });
});
