// What the kernels' TS modules and their WGSL sources say about each other, checked as text (no GPU):
// - the generated kernels (scripts/genKernels.ts) are byte for byte what their templates give now;
// - every kernel version's binding list (KernelSource.bindings) is its shader's @group(0) @binding(i)
//   declarations, in order and kind, and its entry point is a @compute function of that shader;
// - numbers both sides need (tile widths, sentinels) are declared once, in the shader, and TS has the same.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generatedHeader, generateKernels, renderTemplate } from '../scripts/genKernels.js';
import { BACKWARD_BLOCKED_TILES, BACKWARD_CIN3_PIXELS, BACKWARD_UNROLLED_PIXELS, conv3x3BackwardInputVersions } from '../src/kernels/conv3x3BackwardInput.js';
import { CONV3X3_TILES, conv3x3BiasReluVersions, TILED_PIXELS } from '../src/kernels/conv3x3BiasRelu.js';
import { denseBackwardInputVersions, SPLIT_M_ROWS } from '../src/kernels/denseBackwardInput.js';
import { wgslConstU32, type BindingKind, type KernelVersion } from '../src/kernels/kernel.js';
import { PEAK_FMA_FLOPS_PER_STEP } from '../src/kernels/peak.js';
import { RELU_RULE_CODES, RELU_RULES, type ReluRule } from '../src/kernels/reluRule.js';
import { NOT_RANKED } from '../src/kernels/softmaxScoreBackward.js';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const KERNELS = join(PROJECT_ROOT, 'src', 'kernels');
const wgslFiles = readdirSync(KERNELS).filter((f) => f.endsWith('.wgsl')).sort();
const readKernel = (file: string) => readFileSync(join(KERNELS, file), 'utf8');

/** WGSL without comments (so commented-out declarations do not count). */
const stripComments = (code: string) => code.replace(/\/\*[^]*?\*\//g, '').replace(/\/\/.*$/gm, '');

/** Every kernel version every module in src/kernels exports (arrays of kernelVersion()s). */
function allKernelVersions(): { module: string; version: KernelVersion<unknown, unknown> }[] {
  const modules = import.meta.glob<Record<string, unknown>>(['../src/kernels/*.ts', '!../src/kernels/*.ref.ts'], { eager: true });
  const isVersion = (v: unknown): v is KernelVersion<unknown, unknown> =>
    typeof v === 'object' && v !== null && typeof (v as KernelVersion<unknown, unknown>).prepare === 'function' && typeof (v as KernelVersion<unknown, unknown>).source?.code === 'string';
  const out: { module: string; version: KernelVersion<unknown, unknown> }[] = [];
  for (const [path, exports] of Object.entries(modules)) {
    for (const value of Object.values(exports)) {
      if (Array.isArray(value)) for (const v of value) if (isVersion(v)) out.push({ module: path.split('/').pop()!, version: v });
    }
  }
  return out;
}

/** The resource bindings a shader declares: `@group(g) @binding(i) var<space[, access]> name`. */
function declaredBindings(code: string): { group: number; binding: number; kind: BindingKind; name: string }[] {
  const kinds: Record<string, BindingKind> = { uniform: 'uniform', storage: 'read-only-storage', 'storage,read': 'read-only-storage', 'storage,read_write': 'storage' };
  return [...stripComments(code).matchAll(/((?:@\w+\s*\(\s*\d+\s*\)\s*)+)var\s*<([^>]*)>\s*(\w+)/g)].map((m) => {
    const attribute = (name: string) => Number(new RegExp(`@${name}\\s*\\(\\s*(\\d+)`).exec(m[1])?.[1] ?? NaN);
    const space = m[2].replace(/\s+/g, '');
    const kind = kinds[space];
    if (!kind) throw new Error(`binding '${m[3]}': address space '${m[2]}' is not one the engine binds`);
    return { group: attribute('group'), binding: attribute('binding'), kind, name: m[3] };
  });
}

/** Names of the shader's @compute functions. */
const computeEntryPoints = (code: string) =>
  [...stripComments(code).matchAll(/((?:@\w+(?:\s*\([^)]*\))?\s*)+)fn\s+(\w+)\s*\(/g)].filter((m) => /@compute\b/.test(m[1])).map((m) => m[2]);

describe('generated kernels (scripts/genKernels.ts)', () => {
  const generated = generateKernels();

  it('the generator emits the blocked conv families (forward and backward), the backward cIn3 and the vec4 / vec4f16 dense pairs', () => {
    expect(generated.map((g) => g.file).sort()).toEqual(
      [
        'conv3x3BackwardInput.blocked.wgsl',
        'conv3x3BackwardInput.blocked16.wgsl',
        'conv3x3BackwardInput.cIn3.wgsl',
        'conv3x3BiasRelu.blocked.wgsl',
        'conv3x3BiasRelu.blocked16.wgsl',
        'denseBackwardInput.vec4.wgsl',
        'denseBackwardInput.vec4f16.wgsl',
        'denseBiasAct.vec4.wgsl',
        'denseBiasAct.vec4f16.wgsl',
      ].map((f) => `src/kernels/${f}`),
    );
  });

  it.each(generated.map((g) => [g.file, g] as const))('%s is what its template gives now (else: npm run gen:kernels)', (_file, g) => {
    const committed = readFileSync(join(PROJECT_ROOT, g.file), 'utf8');
    expect(committed.split('\n')[0]).toBe(generatedHeader(g.template));
    // Compared as text, not with toEqual, to keep the failure message short.
    expect(committed === g.code, `${g.file} differs from the output of ${g.template}; run npm run gen:kernels`).toBe(true);
  });

  it('every file that says it is generated is generated by a template', () => {
    const claimed = wgslFiles.filter((f) => readKernel(f).startsWith('// generated by scripts/genKernels.ts')).map((f) => `src/kernels/${f}`);
    expect(claimed).toEqual(generated.map((g) => g.file).sort());
  });

  it('template language: outputs, ranges, word lists with an index, conditionals, arithmetic', () => {
    const template = [
      '//# output a.wgsl N=3 NAME=foo F16=true',
      '//# output b.wgsl N=1 NAME=bar F16=false',
      '// {{NAME}}',
      '//# for i in 0..N',
      'let v{{i}} = {{2 * (i + 1) - 1}};',
      '//# end',
      '  //# for q, c in x y',
      '  // {{q}}{{c}}',
      '  //# end',
      '//# if F16',
      'half',
      '//# else',
      'full',
      '//# end',
      '',
    ].join('\n');
    const header = generatedHeader('t.tmpl');
    expect(renderTemplate(template, 't.tmpl')).toEqual([
      { file: 'a.wgsl', code: [header, '// foo', 'let v0 = 1;', 'let v1 = 3;', 'let v2 = 5;', '  // 0x', '  // 1y', 'half', ''].join('\n') },
      { file: 'b.wgsl', code: [header, '// bar', 'let v0 = 1;', '  // 0x', '  // 1y', 'full', ''].join('\n') },
    ]);
  });

  it('template errors name the template and line', () => {
    expect(() => renderTemplate('//# output a.wgsl\nlet x = {{N}};\n', 't.tmpl')).toThrow("t.tmpl:2: {{N}}: unknown variable 'N'");
    expect(() => renderTemplate('//# output a.wgsl N=2\n//# for i in 0..N\nx\n', 't.tmpl')).toThrow("t.tmpl:2: block not closed with '//# end'");
    expect(() => renderTemplate('//# output a.wgsl\n//# end\n', 't.tmpl')).toThrow("t.tmpl:2: 'end' without 'for' or 'if'");
    expect(() => renderTemplate('//# output a.wgsl\n//# repeat 3\n', 't.tmpl')).toThrow("t.tmpl:2: unknown directive '//# repeat 3'");
    expect(() => renderTemplate('x\n', 't.tmpl')).toThrow("t.tmpl: no '//# output' line");
  });
});

describe('kernel modules vs their WGSL', () => {
  const versions = allKernelVersions();

  it('every .wgsl in src/kernels is the shader of some kernel version', () => {
    const codes = new Set(versions.flatMap(({ version }) => [version.source, ...(version.also ?? [])].map((source) => source.code)));
    expect(wgslFiles.filter((f) => !codes.has(readKernel(f)))).toEqual([]);
    expect(versions.length).toBeGreaterThanOrEqual(wgslFiles.length);
  });

  it.each(versions.flatMap(({ module, version }) => [version.source, ...(version.also ?? [])].map((source) => [`${module} ${version.name} (${source.label})`, source] as const)))(
    '%s: bindings and entry point match the shader',
    (_name, source) => {
      const { code, bindings, entryPoint } = source;
      const declared = declaredBindings(code);
      expect(declared.map((d) => d.group).filter((g) => g !== 0), 'every binding is in @group(0)').toEqual([]);
      const byIndex = [...declared].sort((a, b) => a.binding - b.binding);
      expect(byIndex.map((d) => d.binding), 'bindings are 0, 1, 2, … with no gaps or repeats').toEqual(declared.map((_, i) => i));
      expect(bindings).toEqual(byIndex.map((d) => d.kind));
      expect(computeEntryPoints(code)).toContain(entryPoint);
    },
  );

  it('binding kinds are read from the declaration, comments ignored', () => {
    const code = [
      '// @group(0) @binding(9) var<uniform> commented: P;',
      '@group(0) @binding(0) var<uniform> p: P;',
      '@binding(1) @group(0) var<storage> a: array<f32>;',
      '@group(0) @binding(2) var<storage, read> b: array<f32>;',
      '@group(0)\n@binding(3)\nvar<storage,read_write> c: array<f32>;',
      'var<workgroup> scratch: array<f32, 64>;',
      '@compute @workgroup_size(64)\nfn main() {}',
      'fn helper() {}',
    ].join('\n');
    expect(declaredBindings(code).map((d) => [d.binding, d.kind])).toEqual([
      [0, 'uniform'],
      [1, 'read-only-storage'],
      [2, 'read-only-storage'],
      [3, 'storage'],
    ]);
    expect(computeEntryPoints(code)).toEqual(['main']);
  });
});

describe('numbers TS and WGSL share are declared once, in the shader', () => {
  const constants: [ts: string, value: number, file: string, name: string, expected: number][] = [
    ['TILED_PIXELS', TILED_PIXELS, 'conv3x3BiasRelu.tiled.wgsl', 'PIXELS', 4],
    ['CONV3X3_TILES.unrolled.pixels', CONV3X3_TILES.unrolled.pixels, 'conv3x3BiasRelu.unrolled.wgsl', 'PIXELS', 4],
    ['CONV3X3_TILES.unrolled.channels', CONV3X3_TILES.unrolled.channels, 'conv3x3BiasRelu.unrolled.wgsl', 'CHANNELS', 8],
    ['CONV3X3_TILES.blocked.pixels', CONV3X3_TILES.blocked.pixels, 'conv3x3BiasRelu.blocked.wgsl', 'PIXELS', 8],
    ['CONV3X3_TILES.blocked.channels', CONV3X3_TILES.blocked.channels, 'conv3x3BiasRelu.blocked.wgsl', 'CHANNELS', 8],
    ['CONV3X3_TILES.blocked16.pixels', CONV3X3_TILES.blocked16.pixels, 'conv3x3BiasRelu.blocked16.wgsl', 'PIXELS', 16],
    ['CONV3X3_TILES.blocked16.channels', CONV3X3_TILES.blocked16.channels, 'conv3x3BiasRelu.blocked16.wgsl', 'CHANNELS', 8],
    ['BACKWARD_UNROLLED_PIXELS', BACKWARD_UNROLLED_PIXELS, 'conv3x3BackwardInput.unrolled.wgsl', 'PIXELS', 4],
    ['BACKWARD_BLOCKED_TILES.blocked.pixels', BACKWARD_BLOCKED_TILES.blocked.pixels, 'conv3x3BackwardInput.blocked.wgsl', 'PIXELS', 8],
    ['BACKWARD_BLOCKED_TILES.blocked.channels', BACKWARD_BLOCKED_TILES.blocked.channels, 'conv3x3BackwardInput.blocked.wgsl', 'CHANNELS', 8],
    ['BACKWARD_BLOCKED_TILES.blocked16.pixels', BACKWARD_BLOCKED_TILES.blocked16.pixels, 'conv3x3BackwardInput.blocked16.wgsl', 'PIXELS', 16],
    ['BACKWARD_BLOCKED_TILES.blocked16.channels', BACKWARD_BLOCKED_TILES.blocked16.channels, 'conv3x3BackwardInput.blocked16.wgsl', 'CHANNELS', 8],
    ['BACKWARD_CIN3_PIXELS', BACKWARD_CIN3_PIXELS, 'conv3x3BackwardInput.cIn3.wgsl', 'PIXELS', 16],
    ['SPLIT_M_ROWS', SPLIT_M_ROWS, 'denseBackwardInput.splitM.wgsl', 'ROWS', 4],
    ['NOT_RANKED', NOT_RANKED, 'softmaxScoreBackward.wgsl', 'NOT_RANKED', 0xffffffff],
    ['PEAK_FMA_FLOPS_PER_STEP', PEAK_FMA_FLOPS_PER_STEP, 'peakFma.wgsl', 'FLOPS_PER_STEP', 64],
  ];

  it.each(constants)('%s is %s, as %s declares (const %s)', (_ts, value, file, name, expected) => {
    expect(value).toBe(wgslConstU32(readKernel(file), name));
    expect(value).toBe(expected);
  });

  it('every conv and dense backward version takes the ReLU rule; every shader that does names its values as reluRule.ts', () => {
    const backward = [...conv3x3BackwardInputVersions, ...denseBackwardInputVersions];
    for (const v of backward) {
      expect(stripComments(v.source.code), `${v.source.label}: override RELU_RULE`).toMatch(/\boverride\s+RELU_RULE\s*:\s*u32\b/);
    }
    const constNames: Record<ReluRule, string> = { plain: 'RELU_PLAIN', guided: 'RELU_GUIDED', deconvnet: 'RELU_DECONVNET' };
    const takers = wgslFiles.filter((f) => /\boverride\s+RELU_RULE\b/.test(stripComments(readKernel(f))));
    expect(takers.length).toBe(new Set(backward.map((v) => v.source.code)).size);
    for (const f of takers) for (const rule of RELU_RULES) expect(wgslConstU32(readKernel(f), constNames[rule]), `${f}: ${constNames[rule]}`).toBe(RELU_RULE_CODES[rule]);
  });

  it('every conv3x3BiasRelu version with a tile has it in CONV3X3_TILES', () => {
    const tiled = conv3x3BiasReluVersions.filter((v) => /\bPIXELS\b/.test(v.source.code)).map((v) => v.name);
    expect(Object.keys(CONV3X3_TILES).sort()).toEqual([...tiled].sort());
  });

  it('no shader scales an invocation or workgroup id by a literal (a tile size is a named const TS can read)', () => {
    const literal = /\b(?:gid|wg|lid)\.[xyz]\s*\*\s*\d/;
    expect(wgslFiles.filter((f) => literal.test(stripComments(readKernel(f))))).toEqual([]);
  });

  it('wgslConstU32 reads decimal and hexadecimal u32 constants and names a missing one', () => {
    expect(wgslConstU32('const A: u32 = 12u;', 'A')).toBe(12);
    expect(wgslConstU32('const B : u32 = 0xFFu ;', 'B')).toBe(255);
    expect(() => wgslConstU32('const C: i32 = 1;', 'C')).toThrow("WGSL source has no 'const C: u32 = …;'");
  });
});
