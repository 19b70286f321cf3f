// Backward kernel cases, shared by Node and the browser page: each GPU result against the float64 CPU
// reference, and on small shapes against central finite differences of the float64 FORWARD
// references (which checks the references' calculus, not just our transcription of it).
// Finite differences: the forward passes are piecewise linear (ReLU, max) except softmax, so a central
// difference with ε = 1e-4 is exact away from kinks and ties; random continuous data keeps every
// pre-activation and window maximum far (≫ ε) from a kink in these small cases, and the tolerance
// (1e-6 relative to the gradient's scale) would catch a single misrouted term.
import { conv3x3BackwardInputVersions } from '../../src/kernels/conv3x3BackwardInput.js';
import type { Conv3x3Shape } from '../../src/kernels/conv3x3BiasRelu.js';
import { conv3x3BiasReluRef } from '../../src/kernels/conv3x3BiasRelu.ref.js';
import { denseBackwardInputVersions, type DenseBackwardShape } from '../../src/kernels/denseBackwardInput.js';
import { denseBiasActRef } from '../../src/kernels/denseBiasAct.ref.js';
import type { MaxPool2x2Shape } from '../../src/kernels/maxPool2x2.js';
import { maxPool2x2Ref } from '../../src/kernels/maxPool2x2.ref.js';
import { maxPool2x2BackwardVersions } from '../../src/kernels/maxPool2x2Backward.js';
import { softmaxScoreBackwardVersions, TOP_CLASS, type SoftmaxScoreShape } from '../../src/kernels/softmaxScoreBackward.js';
import { softmaxRef } from '../../src/kernels/softmax.ref.js';
import { conv3x3BackwardInputRef, denseBackwardInputRef, maxPool2x2BackwardRef, softmaxScoreBackwardRef } from '../../src/kernels/backward.ref.js';
import { normal, rms, uniform, withBuffers, withWeightFormat } from '../support/data.js';
import { assert, assertClose } from '../support/compare.js';
import { guardedOutput, packHalvesOnGpu, readBack, readGuarded, run, upload } from '../support/gpu.js';
import type { KernelCase } from './cases.js';

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
const convShapes: (Conv3x3Shape & { tag?: string; fd?: boolean })[] = [
  { n: 1, h: 1, w: 1, cIn: 1, cOut: 1, relu: false, fd: true },
  { n: 1, h: 3, w: 5, cIn: 7, cOut: 5, relu: true, fd: true },
  { n: 2, h: 4, w: 3, cIn: 3, cOut: 6, relu: true, fd: true },
  { n: 1, h: 9, w: 13, cIn: 66, cOut: 10, relu: true },
  { n: 1, h: 5, w: 8, cIn: 8, cOut: 12, relu: true, fd: true },
  { n: 2, h: 3, w: 7, cIn: 4, cOut: 4, relu: false, fd: true },
  { n: 1, h: 6, w: 6, cIn: 36, cOut: 20, relu: true },
  // Widths past one and two blocks of the blocked version's 8 pixels.
  { n: 1, h: 3, w: 17, cIn: 8, cOut: 8, relu: true, fd: true },
  { n: 1, h: 14, w: 14, cIn: 512, cOut: 512, relu: true, tag: 'block5_conv3' },
];

function convCases(): KernelCase[] {
  return conv3x3BackwardInputVersions.flatMap((v) =>
    convShapes.filter((s) => v.supports(s)).map((s): KernelCase => {
      const caseName = name(`conv3x3BackwardInput.${v.name}`, { n: s.n, h: s.h, w: s.w, cIn: s.cIn, cOut: s.cOut, relu: s.relu }, s.tag);
      return {
        name: caseName,
        async run(device) {
          const seed = s.h * 31 + s.w * 7 + s.cIn * 3 + s.cOut;
          const x = uniform(s.n * s.h * s.w * s.cIn, seed);
          const w = normal(9 * s.cIn * s.cOut, seed + 1, Math.sqrt(2 / (9 * s.cIn)));
          const b = uniform(s.cOut, seed + 2, -0.3, 0.3);
          const y = Float32Array.from(conv3x3BiasReluRef(s, x, w, b));
          const dy = uniform(y.length, seed + 3);
          const count = x.length;
          const bufs = { dy: upload(device, dy), y: upload(device, y), weights: upload(device, w), dx: guardedOutput(device, count) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, count, caseName);
            const ref = conv3x3BackwardInputRef(s, dy, y, w);
            assertClose(caseName, got, ref, { atol: RTOL * rms(ref), rtol: RTOL });
            if (s.fd) {
              const fd = finiteDifferences(x, dy, (xx) => conv3x3BiasReluRef(s, xx, w, b));
              assertClose(`${caseName} vs finite differences`, got, fd, { atol: 1e-6 * Math.max(1, rms(fd)), rtol: 1e-5 });
            }
          });
        },
      };
    }),
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
const denseShapes: (DenseBackwardShape & { tag?: string; fd?: boolean })[] = [
  { n: 1, k: 1, m: 1, relu: false, fd: true },
  { n: 1, k: 7, m: 5, relu: true, fd: true },
  { n: 3, k: 70, m: 13, relu: true, fd: true },
  // M % 4 == 0 (the vec4 and split-M versions): K not a multiple of split-M's 4 rows, odd M/4, M/4
  // beyond one workgroup's 64 invocations, batch > 1.
  { n: 1, k: 1, m: 4, relu: true, fd: true },
  { n: 3, k: 70, m: 12, relu: true, fd: true },
  { n: 2, k: 9, m: 260, relu: false },
  { n: 1, k: 4096, m: 1000, relu: false, tag: 'predictions' },
  { n: 1, k: 25088, m: 4096, relu: true, tag: 'fc1' },
];

function denseCases(): KernelCase[] {
  return denseBackwardInputVersions.flatMap((v) =>
    denseShapes.map((s) => withWeightFormat(v.name, s)).filter((s) => v.supports(s)).map((s): KernelCase => {
      const caseName = name(`denseBackwardInput.${v.name}`, { n: s.n, k: s.k, m: s.m, relu: s.relu }, `${s.tag ?? ''}${s.weightsF16 ? ' f16' : ''}`);
      return {
        name: caseName,
        async run(device) {
          const seed = s.k * 3 + s.m + s.n;
          const x = uniform(s.n * s.k, seed);
          const w = normal(s.k * s.m, seed + 1, Math.sqrt(2 / s.k));
          const b = uniform(s.m, seed + 2, -0.3, 0.3);
          // f16 version: the weights packed on the GPU; reference and finite differences from the halves stored.
          const packed = s.weightsF16 ? await packHalvesOnGpu(device, w) : undefined;
          const wRef = packed?.values ?? w;
          const fwd = { n: s.n, k: s.k, m: s.m, relu: s.relu };
          const y = Float32Array.from(denseBiasActRef(fwd, x, wRef, b));
          const dy = uniform(y.length, seed + 3);
          const bufs = { dy: upload(device, dy), y: upload(device, y), weights: packed?.buffer ?? upload(device, w), dx: guardedOutput(device, x.length) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dx, x.length, caseName);
            const ref = denseBackwardInputRef(s, dy, y, wRef);
            assertClose(caseName, got, ref, { atol: RTOL * rms(ref), rtol: RTOL });
            if (s.fd) {
              const fd = finiteDifferences(x, dy, (xx) => denseBiasActRef(fwd, xx, wRef, b));
              assertClose(`${caseName} vs finite differences`, got, fd, { atol: 1e-6 * Math.max(1, rms(fd)), rtol: 1e-5 });
            }
          });
        },
      };
    }),
  );
}

// ---------------------------------------------------------------- softmaxScoreBackward
const scoreShapes: (SoftmaxScoreShape & { spread: number })[] = [
  { c: 1, score: 'prob', classIndex: 0, spread: 1 },
  { c: 7, score: 'prob', classIndex: 3, spread: 2 },
  { c: 7, score: 'logit', classIndex: 6, spread: 2 },
  { c: 1000, score: 'prob', classIndex: TOP_CLASS, spread: 5 },
  { c: 1000, score: 'logit', classIndex: TOP_CLASS, spread: 5 },
  { c: 1000, score: 'prob', classIndex: 386, spread: 5 },
];

function scoreCases(): KernelCase[] {
  return softmaxScoreBackwardVersions.flatMap((v) =>
    scoreShapes.map((s): KernelCase => {
      const cls = s.classIndex === TOP_CLASS ? 'top' : s.classIndex;
      const caseName = name(`softmaxScoreBackward.${v.name}`, { c: s.c, score: s.score, class: cls });
      return {
        name: caseName,
        async run(device) {
          const z = uniform(s.c, s.c * 5 + (s.score === 'prob' ? 1 : 2), -s.spread, s.spread);
          const p = Float32Array.from(softmaxRef({ n: 1, c: s.c }, z));
          const bufs = { p: upload(device, p), dz: guardedOutput(device, s.c), stats: upload(device, new Uint32Array([7777, 0])) };
          await withBuffers(Object.values(bufs), async () => {
            await run(device, await v.prepare(device, s, bufs));
            const got = await readGuarded(device, bufs.dz, s.c, caseName);
            const ref = softmaxScoreBackwardRef(s, p);
            assertClose(caseName, got, ref.dz, { atol: 1e-8, rtol: 1e-6 });
            const chosen = new Uint32Array((await readBack(device, bufs.stats)).buffer)[0];
            assert(chosen === ref.chosen, `${caseName}: chose class ${chosen}, expected ${ref.chosen}`);
            // The score's calculus: d p_c / d z by central differences of the float64 softmax.
            const fd = finiteDifferences(z, Float64Array.from({ length: s.c }, (_, j) => (j === ref.chosen ? 1 : 0)), (zz) =>
              s.score === 'prob' ? softmaxRef({ n: 1, c: s.c }, zz) : zz,
            );
            assertClose(`${caseName} vs finite differences`, got, fd, { atol: 1e-6, rtol: 1e-4 });
          });
        },
      };
    }),
  );
}

export const backwardCases: KernelCase[] = [...convCases(), ...poolCases(), ...denseCases(), ...scoreCases()];
