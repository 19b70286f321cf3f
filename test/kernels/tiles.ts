import { GEMM_TILES } from '../../src/kernels/conv3x3BiasRelu.js';

/**
 * What the test suite runs of the conv GEMM family (the implicit-GEMM tiles and split-K), on SwiftShader
 * where each compiles for seconds and a VGG-sized GEMM runs for 10–30 s: gemm32 runs every small shape;
 * the other tiles (the same shader at other pipeline constants) and split-K run the shapes marked `tiles`
 * (partial tiles in both directions, batch 2, K in two splits); VGG's layer shapes (those with a `tag`)
 * are left to a GPU, where the device kit's `--check` runs every version on every shape (gpuKernelCases).
 */
const GEMM_FAMILY: readonly string[] = [...Object.keys(GEMM_TILES), 'splitK'];
/**
 * The first versions, kept to check and benchmark the others against (naive: one output per invocation;
 * tiled: the first workgroup tiling, superseded), run every small shape in the suite and VGG's layer
 * shapes on a GPU only: on SwiftShader those cost ~25 s together and repeat what the small shapes check
 * (indexing, bounds, remainders); the versions the engine chooses keep their VGG-sized cases here.
 */
export const REFERENCE_VERSIONS: readonly string[] = ['naive', 'tiled'];
export const runsShape = (version: string, s: { tiles?: boolean; tag?: string }) =>
  REFERENCE_VERSIONS.includes(version)
    ? s.tag === undefined
    : !GEMM_FAMILY.includes(version) || (s.tag === undefined && (s.tiles === true || version === 'gemm32'));
