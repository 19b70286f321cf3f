// Backward kernel cases, shared by Node and the browser page: each GPU result against the float64 CPU
// reference, and on small shapes against central finite differences of the float64 FORWARD
// references (which checks the references' calculus, not just our transcription of it).
// Finite differences: the forward passes are piecewise linear (ReLU, max) except softmax, so a central
// difference with ε = 1e-4 is exact away from kinks and ties; random continuous data keeps every
// pre-activation and window maximum far (≫ ε) from a kink in these small cases, and the tolerance
// (1e-6 relative to the gradient's scale) would catch a single misrouted term.
import { conv3x3BackwardInputVersions, type Conv3x3BackwardShape } from '../../src/kernels/conv3x3BackwardInput.js';
import type { Conv3x3Shape } from '../../src/kernels/conv3x3BiasRelu.js';
import { conv3x3BiasReluRef } from '../../src/kernels/conv3x3BiasRelu.ref.js';
import { denseBackwardInputVersions, GEMM_BACKWARD_MAX_BATCH, ROWS_MAX, type DenseBackwardShape } from '../../src/kernels/denseBackwardInput.js';
import { denseBiasActRef } from '../../src/kernels/denseBiasAct.ref.js';
import type { MaxPool2x2Shape } from '../../src/kernels/maxPool2x2.js';
import { maxPool2x2Ref } from '../../src/kernels/maxPool2x2.ref.js';
import { maxPool2x2BackwardVersions, type MaxPool2x2BackwardShape } from '../../src/kernels/maxPool2x2Backward.js';
import { packTargetRows, softmaxScoreBackwardVersions, type SoftmaxScoreShape, type TargetRow } from '../../src/kernels/softmaxScoreBackward.js';
import { softmaxScoreBackwardRef } from '../../src/kernels/softmaxScoreBackward.ref.js';
import { softmaxRef } from '../../src/kernels/softmax.ref.js';
import { conv3x3BackwardInputRef, denseBackwardInputRef, maxPool2x2BackwardRef } from '../../src/kernels/backward.ref.js';
import { RELU_RULES, type ReluRule } from '../../src/kernels/reluRule.js';
import { normal, rms, uniform, withBuffers, withWeightFormat } from '../support/data.js';
import { assert, assertClose } from '../support/compare.js';
import { GUARD, guardedOutput, packHalvesOnGpu, readBack, readGuarded, run, SENTINEL, upload } from '../support/gpu.js';
import { preprocessImageBackwardVersions, type PreprocessBackwardShape } from '../../src/kernels/preprocessImageBackward.js';
import { caffePreprocessRef, preprocessImageBackwardRef } from '../../src/kernels/preprocessImageBackward.ref.js';
import type { KernelCase } from './cases.js';
import { runsShape } from './tiles.js';

const name = (kernel: string, o: object, tag = '') => `${kernel} ${tag} ${Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ')}`.replace(/\s+/g, ' ');
const RTOL = 2e-5;
const EPS = 1e-4;

/** Central differences of L(x) = Σ r ⊙ f(x), f a float64 forward reference. */
function finiteDifferences(x: Float32Array, r: ArrayLike<number>, f: (x: Float64Array) => ArrayLike<number>): Float64Array {
  const base = Float64Array.from(x);
  const grad = new Float64Array(x.length);
  const loss = (v: Float64Array) => {
    const y = f(v);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += r[i] * y[i];
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    const keep = base[i];
    base[i] = keep + EPS;
    const up = loss(base);
    base[i] = keep - EPS;
    const down = loss(base);
    base[i] = keep;
    grad[i] = (up - down) / (2 * EPS);
  }
  return grad;
}

// ---------------------------------------------------------------- conv3x3BackwardInput
// rules: the ReLU backward rules a shape runs with (default plain only); finite differences check the
// plain (true) gradient only, the other rules are not a function's gradient. Each version runs every
// rule on a shape with a ReLU, and on one without (where every rule is g = dy; blocked16: see only).
// only: the versions that run the shape, where the others would repeat a check at a price (naive takes
// ~10 s at the VGG-sized input gradient; blocked16 compiles for seconds, and its shader is blocked's
// template at another width, so blocked alone runs the template's path without ReLU).
// tiles: the shapes the GEMM's other tiles run (cases.ts runsShape).
type ConvCaseShape = Conv3x3Shape & { tag?: string; fd?: boolean; rules?: readonly ReluRule[]; only?: readonly string[]; tiles?: boolean };
const convShapes: ConvCaseShape[] = [
  { n: 1, h: 1, w: 1, cIn: 1, cOut: 1, relu: false, fd: true },
  { n: 1, h: 3, w: 5, cIn: 7, cOut: 5, relu: true, fd: true },
  { n: 2, h: 4, w: 3, cIn: 3, cOut: 6, relu: true, fd: true },
  { n: 1, h: 9, w: 13, cIn: 66, cOut: 10, relu: true },
  { n: 1, h: 5, w: 8, cIn: 8, cOut: 12, relu: true, fd: true, rules: RELU_RULES },
  { n: 2, h: 3, w: 7, cIn: 4, cOut: 4, relu: false, fd: true, rules: RELU_RULES },
  { n: 1, h: 6, w: 6, cIn: 36, cOut: 20, relu: true, tiles: true },
  // Widths past one and two blocks of the blocked version's 8 pixels, past one of blocked16's.
  { n: 1, h: 3, w: 17, cIn: 8, cOut: 8, relu: true, fd: true },
  // Batch 2, two groups of 8 input channels, a width past two blocks of 16; and without ReLU.
  { n: 2, h: 3, w: 35, cIn: 16, cOut: 4, relu: true, rules: RELU_RULES },
  { n: 1, h: 2, w: 9, cIn: 8, cOut: 4, relu: false, rules: RELU_RULES, only: ['blocked'] },
  // Cin = 3 (the cIn3 version: the gradient w.r.t. the image) at odd widths, with and without ReLU.
  { n: 2, h: 5, w: 11, cIn: 3, cOut: 8, relu: true, fd: true, rules: RELU_RULES },
  { n: 2, h: 3, w: 9, cIn: 3, cOut: 4, relu: false, fd: true, rules: RELU_RULES },
  { n: 1, h: 14, w: 14, cIn: 512, cOut: 512, relu: true, tag: 'block5_conv3' },
  { n: 1, h: 224, w: 224, cIn: 3, cOut: 64, relu: true, tag: 'block1_conv1', only: ['cIn3'] },
];

interface ConvFixture {
  key: string;
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  y: Float32Array<ArrayBuffer>;
  dy: Float32Array<ArrayBuffer>;
  ref: Float64Array;
}

/**
 * The data and float64 reference of a shape and rule, computed once for all the versions that run it
 * (the cases run shape by shape): at block5_conv3 the references take seconds per case.
 */
let lastConvFixture: ConvFixture | undefined;
function convFixture(s: Conv3x3BackwardShape): ConvFixture {
  const key = JSON.stringify([s.n, s.h, s.w, s.cIn, s.cOut, s.relu, s.reluRule]);
  if (lastConvFixture?.key === key) return lastConvFixture;
  lastConvFixture = undefined;
  const seed = s.h * 31 + s.w * 7 + s.cIn * 3 + s.cOut;
  const x = uniform(s.n * s.h * s.w * s.cIn, seed);
  const w = normal(9 * s.cIn * s.cOut, seed + 1, Math.sqrt(2 / (9 * s.cIn)));
  const b = uniform(s.cOut, seed + 2, -0.3, 0.3);
  const y = Float32Array.from(conv3x3BiasReluRef(s, x, w, b));
  const dy = uniform(y.length, seed + 3);
  lastConvFixture = { key, x, w, b, y, dy, ref: conv3x3BackwardInputRef(s, dy, y, w) };
  return lastConvFixture;
}

/** The cases the test suite runs (suite), or the GEMM tile variants' others (the device kit's --check adds them). */
function convCases(suite = true): KernelCase[] {
  return convShapes.flatMap((shape) =>
    (shape.rules ?? ['plain']).flatMap((reluRule) =>
      conv3x3BackwardInputVersions
        .filter((v) => v.supports(shape) && (!shape.only || shape.only.includes(v.name)) && runsShape(v.name, shape) === suite)
        .map((v): KernelCase => {
          const s: Conv3x3BackwardShape = { ...shape, reluRule };
          const caseName = name(`conv3x3BackwardInput.${v.name}`, { n: s.n, h: s.h, w: s.w, cIn: s.cIn, cOut: s.cOut, relu: s.relu, ...ruleField(reluRule) }, shape.tag);
          return {
            name: caseName,
            async run(device) {
              const { x, w, b, y, dy, ref } = convFixture(s);
              const count = x.length;
              const bufs = { dy: upload(device, dy), y: upload(device, y), weights: upload(device, w), dx: guardedOutput(device, count) };
              await withBuffers(Object.values(bufs), async () => {
                await run(device, await v.prepare(device, s, bufs));
                const got = await readGuarded(device, bufs.dx, count, caseName);
                assertClose(caseName, got, ref, { atol: RTOL * rms(ref), rtol: RTOL });
                if (shape.fd && reluRule === 'plain') {
                  const fd = finiteDifferences(x, dy, (xx) => conv3x3BiasReluRef(s, xx, w, b));
                  assertClose(`${caseName} vs finite differences`, got, fd, { atol: 1e-6 * Math.max(1, rms(fd)), rtol: 1e-5 });
                }
              });
            },
          };
        }),
    ),
  );
}

// ---------------------------------------------------------------- maxPool2x2Backward
const poolShapes: (MaxPool2x2Shape & { tag?: string; ties?: boolean; fd?: boolean })[] = [
  { n: 1, h: 2, w: 2, c: 1, fd: true },
  { n: 1, h: 5, w: 7, c: 3, fd: true },
  { n: 2, h: 4, w: 6, c: 65 },
  { n: 1, h: 8, w: 8, c: 9, ties: true },
  { n: 1, h: 14, w: 14, c: 512, tag: 'block5_pool', ties: true },
];

function poolCases(): KernelCase[] {
  return maxPool2x2BackwardVersions.flatMap((v) =>
    poolShapes.filter((s) => v.supports(s)).map((s): KernelCase => {
      const caseName = name(`maxPool2x2Backward.${v.name}`, { n: s.n, h: s.h, w: s.w, c: s.c }, `${s.tag ?? ''}${s.ties ? ' (ReLU zeros: ties)' : ''}`);
      return {
        name: caseName,
        async run(device) {
          const x = uniform(s.n * s.h * s.w * s.c, s.h * 13 + s.w + s.c);
          if (s.ties) for (let i = 0; i < x.length; i++) x[i] = Math.max(0, x[i]);
          const dy = uniform(s.n * Math.floor(s.h / 2) * Math.floor(s.w / 2) * s.c, s.c + 5);
          const bufs = { dy: upload(device, dy), x: upload(device, x), dx: guardedOutput(device, x.length) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, x.length, caseName);
            assertClose(caseName, got, maxPool2x2BackwardRef(s, dy, x), { atol: 0, rtol: 0 });
            if (s.ties) {
              // All-zero windows: the whole gradient goes to the top-left element.
              let zeroWindows = 0;
              for (let i = 0; i < got.length; i++) if (x[i] === 0 && got[i] !== 0) zeroWindows++;
              assert(zeroWindows > 0, `${caseName}: expected some all-zero windows to route their gradient`);
            }
            if (s.fd) {
              const fd = finiteDifferences(x, dy, (xx) => maxPool2x2Ref(s, xx));
              assertClose(`${caseName} vs finite differences`, got, fd, { atol: 1e-7, rtol: 1e-6 });
            }
          });
        },
      };
    }),
  );
}

// ---------------------------------------------------------------- denseBackwardInput
// rules: as for the conv cases (every version runs every rule with and without a ReLU).
// except: versions the suite skips the shape for, where it would repeat a cheaper shape's check at a
// price (the GPU-shaped 'gemv' runs the same tile at every size, predictions included; on SwiftShader
// its fc1 is twice 'vec4's time); the device kit's --check runs them (backwardGpuCases).
// subgroups: the shapes 'gemvSubgroups' runs in the suite ('gemv' with another reduction, whose every
// pipeline compiles for seconds on SwiftShader); its other shapes run in the device kit's --check.
type SuiteFlags = { except?: readonly string[]; subgroups?: boolean };
/** Whether the suite runs version `v` on a shape (else the device kit's --check does). */
const inSuite = (v: string, s: SuiteFlags) => s.except?.includes(v) !== true && (v !== 'gemvSubgroups' || s.subgroups === true);
const denseShapes: (DenseBackwardShape & SuiteFlags & { tag?: string; fd?: boolean; rules?: readonly ReluRule[] })[] = [
  { n: 1, k: 1, m: 1, relu: false, fd: true },
  { n: 1, k: 7, m: 5, relu: true, fd: true, rules: RELU_RULES },
  { n: 3, k: 70, m: 13, relu: true, fd: true },
  // M % 4 == 0 (the vec4 and split-M versions): K not a multiple of split-M's 4 rows, odd M/4, M/4
  // beyond one workgroup's 64 invocations, batch > 1.
  { n: 1, k: 1, m: 4, relu: true, fd: true },
  { n: 3, k: 70, m: 12, relu: true, fd: true, rules: RELU_RULES, subgroups: true },
  { n: 2, k: 9, m: 260, relu: false, rules: RELU_RULES },
  { n: 1, k: 4096, m: 1000, relu: false, tag: 'predictions' },
  { n: 1, k: 25088, m: 4096, relu: true, tag: 'fc1', except: ['gemv', 'naive', 'vec4f16'] },
];

/** Inputs, forward output and float64 reference per shape, rule and weight format, made once for every version that runs it (fc1's take seconds). */
const denseFixtures = new Map<string, { x: Float32Array; b: Float32Array; y: Float32Array; dy: Float32Array; ref: Float64Array }>();

/** The cases the suite runs (suite), or the shapes it leaves to a GPU (except; the device kit's --check adds them). */
function denseCases(suite = true): KernelCase[] {
  const withRules = denseShapes.flatMap((s) => (s.rules ?? ['plain']).map((reluRule) => ({ ...s, reluRule })));
  return denseBackwardInputVersions.flatMap((v) =>
    withRules.map((s) => withWeightFormat(v.name, s)).filter((s) => v.supports(s) && inSuite(v.name, s) === suite).map((s): KernelCase => {
      const caseName = name(`denseBackwardInput.${v.name}`, { n: s.n, k: s.k, m: s.m, relu: s.relu, ...ruleField(s.reluRule) }, `${s.tag ?? ''}${s.weightsF16 ? ' f16' : ''}`);
      return {
        name: caseName,
        features: v.features,
        async run(device) {
          const seed = s.k * 3 + s.m + s.n;
          const w = normal(s.k * s.m, seed + 1, Math.sqrt(2 / s.k));
          // f16 version: the weights packed on the GPU; reference and finite differences from the halves stored.
          const packed = s.weightsF16 ? await packHalvesOnGpu(device, w) : undefined;
          const wRef = packed?.values ?? w;
          const fwd = { n: s.n, k: s.k, m: s.m, relu: s.relu };
          const key = JSON.stringify([s.n, s.k, s.m, s.relu, s.reluRule, s.weightsF16 === true]);
          let fixture = denseFixtures.get(key);
          if (!fixture) {
            const x = uniform(s.n * s.k, seed);
            const b = uniform(s.m, seed + 2, -0.3, 0.3);
            const y = Float32Array.from(denseBiasActRef(fwd, x, wRef, b));
            const dy = uniform(y.length, seed + 3);
            fixture = { x, b, y, dy, ref: denseBackwardInputRef(s, dy, y, wRef) };
            denseFixtures.set(key, fixture);
          }
          const { x, b, y, dy, ref } = fixture;
          const bufs = { dy: upload(device, dy), y: upload(device, y), weights: packed?.buffer ?? upload(device, w), dx: guardedOutput(device, x.length) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, x.length, caseName);
            assertClose(caseName, got, ref, { atol: RTOL * rms(ref), rtol: RTOL });
            if (s.fd && s.reluRule === 'plain') {
              const fd = finiteDifferences(x, dy, (xx) => denseBiasActRef(fwd, xx, wRef, b));
              assertClose(`${caseName} vs finite differences`, got, fd, { atol: 1e-6 * Math.max(1, rms(fd)), rtol: 1e-5 });
            }
          });
        },
      };
    }),
  );
}

// ---------------------------------------------------------------- shared forward (several targets)
// Several Grad-CAM targets of one image in one backward pass: n rows of dy (one per target class), ONE
// row of the forward tensor (y for the ReLU mask, the pool's x for the argmax) shared by all of them
// (shape.sharedForward). Each case checks every version against the float64 reference with the same
// semantics, and row r against a separate batch-1 run (sharedForward off, today's path) on dy row r:
// bit for bit where the version itself runs batch 1 (the same sums in the same order, only the
// forward tensor's row offset differs), within RTOL for dense 'rows', which has no batch-1 form and is
// compared with the batch-1 default ('vec4'), whose sums run in another order.
// The forward buffer holds the shared row followed by n − 1 decoy rows (inverted ReLU mask, other
// maxima), so a kernel that indexed it by its own row would read valid but wrong data and fail.

const sharedName = (kernel: string, o: object, tag = '') => name(kernel, o, `shared forward${tag}`);

/** Row r of `got` (n rows) against `single(dy row r)`, a batch-1 run. */
async function assertRowsMatchSingleRuns(
  caseName: string,
  got: Float32Array,
  dy: Float32Array,
  n: number,
  tol: { atol: number; rtol: number },
  single: (dyRow: Float32Array) => Promise<Float32Array>,
): Promise<void> {
  const inRow = dy.length / n;
  const outRow = got.length / n;
  for (let r = 0; r < n; r++) {
    const one = await single(dy.subarray(r * inRow, (r + 1) * inRow));
    assertClose(`${caseName} row ${r} vs a batch-1 run`, got.subarray(r * outRow, (r + 1) * outRow), one, tol);
  }
}

/** The shared row followed by n − 1 copies of `decoy(shared)`. */
function withDecoyRows(shared: Float32Array, n: number, decoy: (v: number, i: number) => number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n * shared.length);
  out.set(shared);
  for (let r = 1; r < n; r++) for (let i = 0; i < shared.length; i++) out[r * shared.length + i] = decoy(shared[i], i);
  return out;
}
/** A post-ReLU value with its mask inverted. */
const invertedRelu = (v: number) => (v > 0 ? 0 : 0.5);

// Guided backpropagation masks by the shared y and by each row's own dy: on the versions that compile
// fast (the blocked ones read the shared y with the same gradient() as unrolled, at another tile).
const sharedConvShapes: (Conv3x3BackwardShape & { only?: readonly string[]; tiles?: boolean })[] = [
  { n: 3, h: 3, w: 5, cIn: 7, cOut: 5, relu: true },
  { n: 3, h: 3, w: 6, cIn: 8, cOut: 8, relu: true },
  { n: 3, h: 3, w: 6, cIn: 8, cOut: 8, relu: true, reluRule: 'guided' as const, only: ['unrolled', 'naive'] },
  { n: 5, h: 4, w: 5, cIn: 4, cOut: 12, relu: true },
  { n: 3, h: 4, w: 5, cIn: 3, cOut: 8, relu: true, reluRule: 'guided' as const },
].map((s) => ({ ...s, sharedForward: true }));

/** The rule as a name field, for the cases that are not the plain gradient. */
const ruleField = (rule: ReluRule | undefined) => (rule && rule !== 'plain' ? { rule } : {});

function sharedConvCases(suite = true): KernelCase[] {
  return conv3x3BackwardInputVersions.flatMap((v) =>
    sharedConvShapes.filter((s) => v.supports(s) && (!s.only || s.only.includes(v.name)) && runsShape(v.name, s) === suite).map((s): KernelCase => {
      const caseName = sharedName(`conv3x3BackwardInput.${v.name}`, { n: s.n, h: s.h, w: s.w, cIn: s.cIn, cOut: s.cOut, relu: s.relu, ...ruleField(s.reluRule) });
      return {
        name: caseName,
        async run(device) {
          const seed = s.n * 101 + s.h * 31 + s.w * 7 + s.cIn * 3 + s.cOut;
          const one: Conv3x3BackwardShape = { ...s, n: 1, sharedForward: false };
          const x = uniform(s.h * s.w * s.cIn, seed);
          const w = normal(9 * s.cIn * s.cOut, seed + 1, Math.sqrt(2 / (9 * s.cIn)));
          const b = uniform(s.cOut, seed + 2, -0.3, 0.3);
          const y = Float32Array.from(conv3x3BiasReluRef(one, x, w, b));
          const dy = uniform(s.n * y.length, seed + 3);
          const count = s.n * x.length;
          const weights = upload(device, w);
          const bufs = { dy: upload(device, dy), y: upload(device, withDecoyRows(y, s.n, invertedRelu)), weights, dx: guardedOutput(device, count) };
          await withBuffers([...Object.values(bufs)], async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, count, caseName);
            const ref = conv3x3BackwardInputRef(s, dy, y, w);
            assertClose(caseName, got, ref, { atol: RTOL * rms(ref), rtol: RTOL });
            await assertRowsMatchSingleRuns(caseName, got, dy, s.n, { atol: 0, rtol: 0 }, async (dyRow) => {
              const single = { dy: upload(device, dyRow), y: upload(device, y), dx: guardedOutput(device, x.length) };
              return withBuffers(Object.values(single), async () => {
                await run(device, await v.prepare(device, one, { ...single, weights }));
                return (await readGuarded(device, single.dx, x.length, `${caseName} batch-1 run`)).slice();
              });
            });
          });
        },
      };
    }),
  );
}

const sharedPoolShapes: (MaxPool2x2BackwardShape & { ties?: boolean })[] = [
  { n: 3, h: 5, w: 7, c: 3, sharedForward: true },
  { n: 5, h: 4, w: 6, c: 9, sharedForward: true, ties: true },
];

function sharedPoolCases(): KernelCase[] {
  return maxPool2x2BackwardVersions.flatMap((v) =>
    sharedPoolShapes.filter((s) => v.supports(s)).map((s): KernelCase => {
      const caseName = sharedName(`maxPool2x2Backward.${v.name}`, { n: s.n, h: s.h, w: s.w, c: s.c }, s.ties ? ' (ReLU zeros: ties)' : '');
      return {
        name: caseName,
        async run(device) {
          const one: MaxPool2x2BackwardShape = { ...s, n: 1, sharedForward: false };
          const x = uniform(s.h * s.w * s.c, s.n * 71 + s.h * 13 + s.w + s.c);
          if (s.ties) for (let i = 0; i < x.length; i++) x[i] = Math.max(0, x[i]);
          // Decoy images: the maxima elsewhere (reversed values).
          const decoy = (_v: number, i: number) => x[x.length - 1 - i];
          const dy = uniform(s.n * Math.floor(s.h / 2) * Math.floor(s.w / 2) * s.c, s.c + 11);
          const count = s.n * x.length;
          const bufs = { dy: upload(device, dy), x: upload(device, withDecoyRows(x, s.n, decoy)), dx: guardedOutput(device, count) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, count, caseName);
            assertClose(caseName, got, maxPool2x2BackwardRef(s, dy, x), { atol: 0, rtol: 0 });
            await assertRowsMatchSingleRuns(caseName, got, dy, s.n, { atol: 0, rtol: 0 }, async (dyRow) => {
              const single = { dy: upload(device, dyRow), x: upload(device, x), dx: guardedOutput(device, x.length) };
              return withBuffers(Object.values(single), async () => {
                await run(device, await v.prepare(device, one, single));
                return (await readGuarded(device, single.dx, x.length, `${caseName} batch-1 run`)).slice();
              });
            });
          });
        },
      };
    }),
  );
}

const sharedDenseShapes: (DenseBackwardShape & SuiteFlags)[] = [
  { n: 3, k: 9, m: 13, relu: true },
  { n: 2, k: 7, m: 12, relu: true },
  { n: 3, k: 70, m: 12, relu: true, subgroups: true },
  { n: 5, k: 300, m: 128, relu: true },
  // The rows version's most rows per invocation; gemm's blocks of 8 rows, a full one and a block of 1
  // (its only case past 8 rows: each row count compiles a pipeline, seconds on SwiftShader).
  { n: ROWS_MAX, k: 33, m: 16, relu: true },
  { n: GEMM_BACKWARD_MAX_BATCH + 1, k: 13, m: 20, relu: true },
  // Guided: the shared y's mask and each row's dy; deconvnet: dy alone (rows skips the shared mask).
  { n: 3, k: 70, m: 12, relu: true, reluRule: 'guided' as const },
  { n: 2, k: 7, m: 12, relu: true, reluRule: 'deconvnet' as const },
].map((s) => ({ ...s, sharedForward: true }));

function sharedDenseCases(suite = true): KernelCase[] {
  return denseBackwardInputVersions.flatMap((v) =>
    sharedDenseShapes.map((s) => withWeightFormat(v.name, s)).filter((s) => v.supports(s) && inSuite(v.name, s) === suite).map((s): KernelCase => {
      const caseName = sharedName(`denseBackwardInput.${v.name}`, { n: s.n, k: s.k, m: s.m, relu: s.relu, ...ruleField(s.reluRule) }, s.weightsF16 ? ' f16' : '');
      return {
        name: caseName,
        features: v.features,
        async run(device) {
          const seed = s.k * 5 + s.m + s.n * 17;
          const x = uniform(s.k, seed);
          const w = normal(s.k * s.m, seed + 1, Math.sqrt(2 / s.k));
          const b = uniform(s.m, seed + 2, -0.3, 0.3);
          const packed = s.weightsF16 ? await packHalvesOnGpu(device, w) : undefined;
          const wRef = packed?.values ?? w;
          const y = Float32Array.from(denseBiasActRef({ n: 1, k: s.k, m: s.m, relu: s.relu }, x, wRef, b));
          const dy = uniform(s.n * s.m, seed + 3);
          const count = s.n * s.k;
          const weights = packed?.buffer ?? upload(device, w);
          const bufs = { dy: upload(device, dy), y: upload(device, withDecoyRows(y, s.n, invertedRelu)), weights, dx: guardedOutput(device, count) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, count, caseName);
            const ref = denseBackwardInputRef(s, dy, y, wRef);
            assertClose(caseName, got, ref, { atol: RTOL * rms(ref), rtol: RTOL });
            // 'rows' has no batch-1 form: its rows against the batch-1 default, within RTOL.
            const one: DenseBackwardShape = { ...s, n: 1, sharedForward: false };
            const v1 = v.supports(one) ? v : denseBackwardInputVersions.find((u) => u.supports(one))!;
            const tol = v1 === v ? { atol: 0, rtol: 0 } : { atol: RTOL * rms(ref), rtol: RTOL };
            await assertRowsMatchSingleRuns(caseName, got, dy, s.n, tol, async (dyRow) => {
              const single = { dy: upload(device, dyRow), y: upload(device, y), dx: guardedOutput(device, s.k) };
              return withBuffers(Object.values(single), async () => {
                await run(device, await v1.prepare(device, one, { ...single, weights }));
                return (await readGuarded(device, single.dx, s.k, `${caseName} batch-1 run (${v1.name})`)).slice();
              });
            });
          });
        },
      };
    }),
  );
}

/** Which dense backward version runs by default (no tuning table): 'rows' for 2..ROWS_MAX rows only. */
function denseDefaultCases(): KernelCase[] {
  const expected: [Partial<DenseBackwardShape>, string][] = [
    [{ n: 1 }, 'vec4'],
    [{ n: 1, sharedForward: true }, 'vec4'],
    [{ n: 2 }, 'rows'],
    [{ n: 5, sharedForward: true }, 'rows'],
    [{ n: ROWS_MAX, sharedForward: true }, 'rows'],
    [{ n: ROWS_MAX + 1, sharedForward: true }, 'vec4'],
    [{ n: 5, m: 13, sharedForward: true }, 'naive'],
    [{ n: 5, sharedForward: true, weightsF16: true }, 'vec4f16'],
  ];
  return [
    {
      name: 'denseBackwardInput default version by rows (1 → vec4, 2..8 → rows, 9 → vec4)',
      async run() {
        for (const [o, version] of expected) {
          const s: DenseBackwardShape = { n: 1, k: 4096, m: 4096, relu: true, ...o };
          const got = denseBackwardInputVersions.find((v) => v.supports(s))?.name;
          assert(got === version, `denseBackwardInput ${JSON.stringify(s)}: default '${got}', expected '${version}'`);
        }
      },
    },
  ];
}

const sharedForwardCases = (): KernelCase[] => [...sharedConvCases(), ...sharedPoolCases(), ...sharedDenseCases(), ...denseDefaultCases()];

// ---------------------------------------------------------------- softmaxScoreBackward
const scoreShapes: (SoftmaxScoreShape & { spread: number; targets: TargetRow[] })[] = [
  { c: 1, score: 'prob', spread: 1, targets: [{ classes: [0], sign: 1 }] },
  { c: 7, score: 'prob', spread: 2, targets: [{ classes: [3], sign: 1 }] },
  { c: 7, score: 'logit', spread: 2, targets: [{ classes: [6], sign: 1 }] },
  { c: 1000, score: 'prob', spread: 5, targets: [{ rank: 0 }] },
  { c: 1000, score: 'logit', spread: 5, targets: [{ rank: 0 }] },
  { c: 1000, score: 'prob', spread: 5, targets: [{ classes: [386], sign: 1 }] },
  // Several rows in one pass: top-5 by rank, a two-class sum and a counterfactual.
  { c: 1000, score: 'prob', spread: 5, targets: [0, 1, 2, 3, 4].map((rank) => ({ rank })) },
  { c: 9, score: 'prob', spread: 2, targets: [{ classes: [2, 5], sign: 1 }, { classes: [4], sign: -1 }, { rank: 3 }] },
  { c: 9, score: 'logit', spread: 2, targets: [{ classes: [2, 5], sign: 1 }, { classes: [4], sign: -1 }] },
  // perRowForward: each row over its own probabilities (a batch of inputs), ranks resolved per row;
  // rows 0 and 1 ask for the same rank and must resolve it on different rows of p.
  { c: 300, score: 'prob', spread: 4, perRowForward: true, targets: [{ rank: 0 }, { rank: 0 }, { rank: 2 }] },
  { c: 9, score: 'prob', spread: 2, perRowForward: true, targets: [{ rank: 0 }, { rank: 0 }, { classes: [2, 5], sign: 1 }, { classes: [4], sign: -1 }] },
  { c: 9, score: 'logit', spread: 2, perRowForward: true, targets: [{ rank: 0 }, { rank: 0 }, { classes: [4], sign: -1 }] },
];

function scoreCases(): KernelCase[] {
  return softmaxScoreBackwardVersions.flatMap((v) =>
    scoreShapes.map((s): KernelCase => {
      const rows = s.targets.length;
      const what = s.targets.map((t) => ('rank' in t ? `rank${t.rank}` : `${t.sign < 0 ? '-' : ''}${t.classes.join('+')}`)).join(',');
      const perRow = s.perRowForward === true;
      const caseName = name(`softmaxScoreBackward.${v.name}`, { c: s.c, score: s.score, targets: what }, perRow ? 'per-row forward' : '');
      return {
        name: caseName,
        async run(device) {
          // One row of logits, or one per target row.
          const forwards = perRow ? rows : 1;
          const z = uniform(forwards * s.c, s.c * 5 + (s.score === 'prob' ? 1 : 2) + rows, -s.spread, s.spread);
          const p = Float32Array.from(softmaxRef({ n: forwards, c: s.c }, z));
          const { coef, ranks } = packTargetRows(s.c, s.targets);
          const shape = { c: s.c, score: s.score, rows, perRowForward: perRow };
          const bufs = {
            p: upload(device, p),
            coef: upload(device, coef),
            ranks: upload(device, ranks),
            dz: guardedOutput(device, rows * s.c),
            chosen: upload(device, new Uint32Array(rows).fill(7777)),
          };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, shape, bufs));
            const got = await readGuarded(device, bufs.dz, rows * s.c, caseName);
            const ref = softmaxScoreBackwardRef(shape, p, s.targets);
            assertClose(caseName, got, ref.dz, { atol: 1e-8, rtol: 1e-6 });
            const chosen = [...new Uint32Array((await readBack(device, bufs.chosen)).buffer).subarray(0, rows)];
            assert(chosen.join() === ref.chosen.join(), `${caseName}: resolved classes ${chosen}, expected ${ref.chosen}`);
            if (perRow) assert(ref.chosen[0] !== ref.chosen[1], `${caseName}: rows 0 and 1 should resolve rank 0 on different forwards`);
            // The score's calculus: dS/dz by central differences of the float64 softmax, S = Σ_c t_c score_c.
            for (let r = 0; r < rows; r++) {
              const t = s.targets[r];
              const coefRow = Float64Array.from({ length: s.c }, (_, j) => ('rank' in t ? (j === ref.chosen[r] ? 1 : 0) : t.classes.includes(j) ? t.sign : 0));
              const zRow = perRow ? z.subarray(r * s.c, (r + 1) * s.c) : z;
              const fd = finiteDifferences(zRow, coefRow, (zz) => (s.score === 'prob' ? softmaxRef({ n: 1, c: s.c }, zz) : zz));
              assertClose(`${caseName} row ${r} vs finite differences`, got.subarray(r * s.c, (r + 1) * s.c), fd, { atol: 1e-6, rtol: 1e-4 });
            }
          });
        },
      };
    }),
  );
}

// ---------------------------------------------------------------- preprocessImageBackward
// Against the float64 reference, with and without accumulating into what out holds; the reference's
// calculus against central differences of the float64 forward (x_rgb ↦ x_rgb[::-1] − mean), with the
// weighted rows as one cotangent: L(x) = Σ_r w_r ⟨g_r, f(x)⟩ = ⟨Σ_r w_r g_r, f(x)⟩.
// Float32 sums of a few rows: within 1e-6 relative.
const preprocessBackwardShapes: (PreprocessBackwardShape & { tag?: string; fd?: boolean })[] = [
  { pixels: 1, rows: 1, accumulate: false, fd: true },
  { pixels: 37, rows: 3, accumulate: false, fd: true },
  { pixels: 37, rows: 3, accumulate: true },
  { pixels: 130, rows: 1, accumulate: true },
  { pixels: 224 * 224, rows: 5, accumulate: true, tag: '224×224' },
];

function preprocessBackwardCases(): KernelCase[] {
  return preprocessImageBackwardVersions.flatMap((v) =>
    preprocessBackwardShapes.filter((s) => v.supports(s)).map((s): KernelCase => {
      const caseName = name(`preprocessImageBackward.${v.name}`, { pixels: s.pixels, rows: s.rows, accumulate: s.accumulate }, s.tag);
      return {
        name: caseName,
        async run(device) {
          const seed = s.pixels * 3 + s.rows + (s.accumulate ? 1 : 0);
          const count = 3 * s.pixels;
          const g = uniform(s.rows * count, seed);
          const rowWeights = uniform(s.rows, seed + 1, 0.1, 1);
          const previous = uniform(count, seed + 2);
          // What out holds before: the previous sum when accumulating (else sentinels, all to be overwritten), then the guards.
          const initial = new Float32Array(count + GUARD).fill(SENTINEL);
          if (s.accumulate) initial.set(previous);
          const bufs = { g: upload(device, g), rowWeights: upload(device, rowWeights), out: upload(device, initial) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.out, count, caseName);
            const ref = preprocessImageBackwardRef(s, g, rowWeights, previous);
            assertClose(caseName, got, ref, { atol: 1e-6 * rms(ref), rtol: 1e-6 });
            if (s.fd) {
              const cotangent = new Float64Array(count);
              for (let r = 0; r < s.rows; r++) for (let i = 0; i < count; i++) cotangent[i] += rowWeights[r] * g[r * count + i];
              const x = uniform(count, seed + 3, 0, 255);
              const fd = finiteDifferences(x, cotangent, caffePreprocessRef);
              const refAlone = preprocessImageBackwardRef({ ...s, accumulate: false }, g, rowWeights);
              assertClose(`${caseName}: reference vs finite differences of the forward`, refAlone, fd, { atol: 1e-9, rtol: 1e-7 });
            }
          });
        },
      };
    }),
  );
}

/** Backward cases the suite leaves to a GPU: the GEMM tile variants' (tiles.ts), the dense shapes' except and gemvSubgroups' others. */
export const backwardGpuCases = (): KernelCase[] => [...convCases(false), ...sharedConvCases(false), ...denseCases(false), ...sharedDenseCases(false)];

export const backwardCases: KernelCase[] = [
  ...convCases(),
  ...poolCases(),
  ...denseCases(),
  ...sharedForwardCases(),
  ...scoreCases(),
  ...preprocessBackwardCases(),
];
