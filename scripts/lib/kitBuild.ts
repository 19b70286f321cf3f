// `npm run kit`: a folder that runs the benchmark on any Linux x86-64 machine with a GPU driver and
// no npm or network (issue #17). It holds this machine's Node (gzip: 99 MB → 36 MB), Dawn's dawn.node
// for linux-x64 (gzip), the one bundled script (scripts/lib/kitBundle.ts), the TF.js WASM binaries,
// the Vulkan loader (used only where the system has none) and run.sh (scripts/lib/kit-run.sh), which
// unpacks Node and Dawn on its first run and picks the Vulkan driver. No weights: the bench makes
// seeded synthetic ones in memory. The folder is built beside the target and renamed into place; the
// compressed binaries of the previous build are reused while their sources are unchanged.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { KIT_WASM_FILES } from '../../src/bench/tfjsPeer.kit.js';
import { bundleKitScript, DAWN_NODE_ENV } from './kitBundle.js';

/** The kit must stay below this (the test asserts it too): 60 MiB. */
export const KIT_MAX_BYTES = 60 * 1024 * 1024;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MANIFEST = 'kit.json';
/** gzip level: 6 packs Node to 36 MB in ~6 s; 9 saves 0.2 MB for 3× the time; xz -6 gives 24 MB but takes minutes. */
const GZIP_LEVEL = 6;
/** libglvnd's libraries (Debian's libglvnd0, libglx0, libegl1, libgl1, libopengl0, libgles2), carried for GPU containers without them. */
const GLVND_DIR = '/usr/lib/x86_64-linux-gnu';
const GLVND_LIBRARIES = ['libGLdispatch.so.0', 'libGLX.so.0', 'libEGL.so.1', 'libGL.so.1', 'libOpenGL.so.0', 'libGLESv2.so.2'];
const VULKAN_LOADERS = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'];

interface SourceStamp {
  path: string;
  bytes: number;
  mtimeMs: number;
  gzipLevel: number;
}

export interface KitManifest {
  buildId: string;
  builtAt: string;
  commit?: string;
  node: string;
  webgpu: string;
  tfjs: string;
  sources: Record<string, SourceStamp>;
  /** Every file's size but the manifest's own (a few hundred bytes). */
  files: Record<string, number>;
  totalBytes: number;
}

export interface KitBuildResult {
  dir: string;
  manifest: KitManifest;
  /** Compressed binaries taken from the previous build (their sources unchanged). */
  reused: string[];
  seconds: number;
}

const version = (pkg: string) => (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

function stampOf(path: string): SourceStamp {
  const s = statSync(path);
  return { path, bytes: s.size, mtimeMs: s.mtimeMs, gzipLevel: GZIP_LEVEL };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

function readManifest(dir: string): KitManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as KitManifest;
  } catch {
    return undefined;
  }
}

function gitCommit(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return undefined;
  }
}

async function sha256(paths: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of paths) for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Refuses to replace a folder that is not a kit (a mistyped --out must not delete someone's files). */
function checkReplaceable(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder`);
  if (readdirSync(dir).length && !existsSync(join(dir, MANIFEST))) throw new Error(`${dir} is not empty and holds no ${MANIFEST}: not a kit, so not replacing it; choose another --out`);
  if (resolve(dir) === ROOT || ROOT.startsWith(`${resolve(dir)}/`)) throw new Error(`${dir}: the kit cannot replace the repository`);
}

export async function buildKit(options: { outDir: string; log: (line: string) => void }): Promise<KitBuildResult> {
  const started = performance.now();
  const { log } = options;
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the kit is for Linux x86-64: it carries this machine's Node, and this is ${process.platform}-${process.arch}`);
  const outDir = resolve(options.outDir);
  checkReplaceable(outDir);

  const nodeSource = realpathSync(process.execPath);
  const dawnSource = join(ROOT, 'node_modules/webgpu/dist/linux-x64/dawn.node');
  const wasmDir = join(ROOT, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  const vulkan = VULKAN_LOADERS.find((p) => existsSync(p));
  if (!vulkan) throw new Error(`no Vulkan loader (libvulkan.so.1) on this machine to carry in the kit (looked at ${VULKAN_LOADERS.join(', ')}): apt-get install libvulkan1`);
  for (const p of [dawnSource, ...KIT_WASM_FILES.map((f) => join(wasmDir, f))]) if (!existsSync(p)) throw new Error(`${p} is missing: run npm install`);

  const stage = `${outDir}.building-${process.pid}`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, 'lib'), { recursive: true });
  try {
    const previous = readManifest(outDir);
    const reused: string[] = [];
    const sources: Record<string, SourceStamp> = {};
    const gzipInto = async (name: string, src: string) => {
      const stamp = stampOf(src);
      sources[name] = stamp;
      const old = previous?.sources?.[name];
      const oldFile = join(outDir, name);
      if (old && JSON.stringify(old) === JSON.stringify(stamp) && existsSync(oldFile) && statSync(oldFile).size === previous?.files[name]) {
        copyFileSync(oldFile, join(stage, name));
        reused.push(name);
        return;
      }
      log(`kit: compressing ${src} (${(stamp.bytes / 1e6).toFixed(1)} MB, gzip -${GZIP_LEVEL})`);
      await pipeline(createReadStream(src), createGzip({ level: GZIP_LEVEL }), createWriteStream(join(stage, name)));
    };
    await gzipInto('node.gz', nodeSource);
    await gzipInto('dawn.node.gz', dawnSource);

    log('kit: bundling scripts/kitRun.ts (engine, kernels, bench, kernel cases, TF.js) with esbuild');
    const bundle = await bundleKitScript(join(ROOT, 'scripts/kitRun.ts'), join(stage, 'kit.mjs'));
    for (const w of bundle.warnings) log(`kit: esbuild: ${w}`);
    // The bundle must load (Dawn through the kit's variable) and parse its flags.
    execFileSync(process.execPath, [join(stage, 'kit.mjs'), '--help'], { env: { ...process.env, [DAWN_NODE_ENV]: dawnSource }, stdio: ['ignore', 'ignore', 'pipe'] });

    for (const f of KIT_WASM_FILES) copyFileSync(join(wasmDir, f), join(stage, f));
    copyFileSync(realpathSync(vulkan), join(stage, 'lib/libvulkan.so.1'));
    // NVIDIA's Vulkan driver (libGLX_nvidia.so.0) needs the GL vendor-neutral dispatch libraries, which
    // GPU containers set up for CUDA often lack: there the driver loads but creates no Vulkan instance.
    const glvnd = GLVND_LIBRARIES.map((name) => ({ name, path: join(GLVND_DIR, name) })).filter((l) => existsSync(l.path));
    if (glvnd.length) mkdirSync(join(stage, 'lib/glvnd'));
    for (const l of glvnd) copyFileSync(realpathSync(l.path), join(stage, 'lib/glvnd', l.name));
    if (glvnd.length < GLVND_LIBRARIES.length) log(`kit: not carrying ${GLVND_LIBRARIES.filter((n) => !glvnd.some((l) => l.name === n)).join(', ')} (not installed here: apt-get install libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2)`);
    mkdirSync(join(stage, 'licenses'));
    copyFileSync(join(ROOT, 'node_modules/webgpu/LICENSE.md'), join(stage, 'licenses/webgpu-dawn.LICENSE.md'));
    if (existsSync('/usr/share/doc/libvulkan1/copyright')) copyFileSync('/usr/share/doc/libvulkan1/copyright', join(stage, 'licenses/vulkan-loader.copyright'));

    const buildId = (await sha256([join(stage, 'node.gz'), join(stage, 'dawn.node.gz')])).slice(0, 12);
    writeFileSync(join(stage, 'run.sh'), readFileSync(join(ROOT, 'scripts/lib/kit-run.sh'), 'utf8').replaceAll('@BUILD_ID@', buildId));
    chmodSync(join(stage, 'run.sh'), 0o755);
    writeFileSync(join(stage, 'README.txt'), readme(buildId));

    const manifest: KitManifest = {
      buildId,
      builtAt: new Date().toISOString(),
      commit: gitCommit(),
      node: process.version,
      webgpu: version('webgpu'),
      tfjs: version('@tensorflow/tfjs-core'),
      sources,
      files: {},
      totalBytes: 0,
    };
    manifest.files = Object.fromEntries(filesUnder(stage).map((p) => [relative(stage, p), statSync(p).size]));
    manifest.totalBytes = Object.values(manifest.files).reduce((a, b) => a + b, 0);
    writeFileSync(join(stage, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
    const total = filesUnder(stage).reduce((a, p) => a + statSync(p).size, 0);
    if (total > KIT_MAX_BYTES) throw new Error(`the kit is ${(total / 2 ** 20).toFixed(1)} MiB, over its ${KIT_MAX_BYTES / 2 ** 20} MiB limit`);

    // A previous kit's results stay (a run in place writes bench-results/ there); its unpacked binaries and tuning cache go.
    if (existsSync(join(outDir, 'bench-results'))) renameSync(join(outDir, 'bench-results'), join(stage, 'bench-results'));
    rmSync(outDir, { recursive: true, force: true });
    renameSync(stage, outDir);
    return { dir: outDir, manifest, reused, seconds: (performance.now() - started) / 1000 };
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
}

function readme(buildId: string): string {
  return `gradcam-webgpu device kit (build ${buildId}), made by \`npm run kit\` in the repository.

Runs the VGG16 / Grad-CAM benchmark with Node and Dawn (WebGPU on Vulkan) on a Linux x86-64 machine
with a GPU driver: no npm, no network, no weights (random ones are made in memory, seeded).

  ./run.sh --quick          start here: the report in markdown on stdout, JSON in bench-results/
  ./run.sh                  the full run (every kernel version, 10 runs, batch 8)
  ./run.sh --check          the kernel test cases on this GPU first, then the benchmark
  ./run.sh --check-only     only the kernel test cases (exit status 1 if any fails)
  ./run.sh --help           every flag (--out <dir>, --no-peer, --size, --layers, --swiftshader, ...)

The first run unpacks Node and Dawn into .unpacked/ here (or a temporary folder when this one is
read-only). The Vulkan driver: VK_ICD_FILENAMES / VK_DRIVER_FILES when set; else an NVIDIA, AMD or
Intel ICD from /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or /usr/local/nvidia/share/vulkan/icd.d;
else SwiftShader (a CPU rasteriser, said so) when /usr/lib/chromium/vk_swiftshader_icd.json exists.
lib/libvulkan.so.1 (the Vulkan loader) is used only when the system has none; likewise lib/glvnd/ (libglvnd,
which NVIDIA's Vulkan driver needs) when the system has no libGLdispatch.so.0.

Contents: node.gz (Node ${process.version}, MIT), dawn.node.gz (Dawn through the npm package webgpu
${version('webgpu')}, licenses/), kit.mjs (the bundled benchmark; TensorFlow.js ${version('@tensorflow/tfjs-core')},
Apache-2.0, notices in kit.mjs.LEGAL.txt), tfjs-backend-wasm*.wasm (TF.js' WASM backend),
lib/libvulkan.so.1 (Khronos Vulkan loader, Apache-2.0), run.sh, ${MANIFEST} (versions, sizes, commit).
`;
}

/** Sizes in MB per file, largest first, for the build's printout. */
export function sizeLines(m: KitManifest): string[] {
  return Object.entries(m.files)
    .sort((a, b) => b[1] - a[1])
    .map(([f, bytes]) => `${(bytes / 1e6).toFixed(2).padStart(7)} MB  ${f}`)
    .concat(`${(m.totalBytes / 1e6).toFixed(2).padStart(7)} MB  total (${(m.totalBytes / 2 ** 20).toFixed(1)} MiB of ${KIT_MAX_BYTES / 2 ** 20} MiB)`);
}
