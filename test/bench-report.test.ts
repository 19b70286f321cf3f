// The benchmark markdown's kernel tables on made-up rows (CPU only): per layer the fastest version and
// TF.js WebGPU's layer time over ours, and the versions × layers tables whose columns come from the rows.
import { describe, expect, it } from 'vitest';
import type { KernelRow } from '../src/bench/kernelBench.js';
import { bestPerLayerMarkdown, versionTablesMarkdown } from '../src/bench/report.js';
import type { BenchReport } from '../src/bench/run.js';
describe('the kernel tables of the markdown (made-up rows)', () => {
  const row = (layer: string, direction: KernelRow['direction'], name: string, version: string, shape: string, medianMs: number): KernelRow => ({
    name, layer, version, shape, direction, medianMs, p10Ms: medianMs, p90Ms: medianMs, gflops: 1, gbps: 1, pctOfPeak: 50, bound: name.startsWith('conv') ? 'compute' : 'memory', timing: 'gpu-timestamp',
  });
  const report = {
    kernels: [
      row('block1_conv1', 'forward', 'conv3x3BiasRelu', 'unrolled', '8×8×3→4', 2),
      row('block1_conv1', 'forward', 'conv3x3BiasRelu', 'tiled', '8×8×3→4', 3),
      row('block1_conv1', 'backward', 'conv3x3BackwardInput', 'cIn3', '8×8×3→4', 5),
      row('predictions', 'forward', 'denseBiasAct', 'vec4', '16→10', 1),
      row('predictions', 'forward', 'softmax', 'direct', '10', 0.5),
      row('predictions', 'backward', 'denseBackwardInput', 'vec4', '2×16→10 shared', 0.7),
    ],
    layers: [
      { layer: 'block1_conv1', oursMs: 2.5, peerMs: 4 },
      { layer: 'predictions', oursMs: 1.4, peerMs: 3 },
    ],
  } as unknown as BenchReport;

  it('per layer the fastest version and TF.js WebGPU over the sum of the layer\'s fastest kernels; – where TF.js has no time', () => {
    expect(bestPerLayerMarkdown(report).slice(2, -1)).toEqual([
      '| block1_conv1 fwd | conv3x3BiasRelu | 8×8×3→4 | unrolled | 2.00 | 50% compute | 2 | 4.00 | 2.00× |',
      '| block1_conv1 bwd | conv3x3BackwardInput | 8×8×3→4 | cIn3 | 5.00 | 50% compute | 1 | – | – |',
      '| predictions fwd | denseBiasAct | 16→10 | vec4 | 1.00 | 50% bw | 1 | 3.00 | 2.00× |',
      '| predictions fwd | softmax | 10 | direct | 0.50 | 50% bw | 1 | 3.00 | 2.00× |',
      '| predictions bwd | denseBackwardInput | 2×16→10 shared | vec4 | 0.70 | 50% bw | 1 | – | – |',
    ]);
  });

  it('versions × layers: a table per kernel measured in several versions, its columns from the rows, the fastest in bold', () => {
    expect(versionTablesMarkdown(report)).toEqual([
      'conv3x3BiasRelu (forward), median ms per version, the fastest in bold:',
      '',
      '| layer | shape | unrolled | tiled |',
      '| --- | --- | ---: | ---: |',
      '| block1_conv1 fwd | 8×8×3→4 | **2.00** | 3.00 |',
      '',
    ]);
    const more = { ...report, kernels: [...report.kernels, row('block2_conv1', 'forward', 'conv3x3BiasRelu', 'gemm64', '4×4×4→8', 1)] } as BenchReport;
    expect(versionTablesMarkdown(more).slice(2, 6)).toEqual([
      '| layer | shape | unrolled | tiled | gemm64 |',
      '| --- | --- | ---: | ---: | ---: |',
      '| block1_conv1 fwd | 8×8×3→4 | **2.00** | 3.00 |  |',
      '| block2_conv1 fwd | 4×4×4→8 |  |  | 1.00 |',
    ]);
  });
});
