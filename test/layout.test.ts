// The import rules that keep the layers apart (CPU only, reads the sources):
//   src/kernels imports nothing outside itself (WGSL and its wrappers are a unit);
//   src/engine imports no host, app, bench or script, and nothing from Node or Dawn;
//   src/app and scripts reach the engine only through the public API (src/index.ts, src/node.ts) or a
//   host (src/hosts/…), never src/engine or src/kernels directly;
//   everything src/index.ts reaches is browser-safe: no node: module, no `webgpu` (Dawn) package.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = process.cwd();

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith('.d.ts') ? [relative(ROOT, path)] : [];
  });
}

/** Every module specifier a file imports or re-exports, statically or with import(). */
function specifiers(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm)].map((m) => m[2]);
}

/** A relative specifier as a path from the repository root (the .ts file for a .js specifier). */
function target(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const path = normalize(join(dirname(file), spec.split('?')[0]));
  return path.endsWith('.js') && !statExists(path) ? `${path.slice(0, -3)}.ts` : path;
}
const statExists = (p: string) => {
  try {
    statSync(join(ROOT, p));
    return true;
  } catch {
    return false;
  }
};

function violations(files: string[], allowed: (target: string | undefined, spec: string, file: string) => boolean): string[] {
  return files.flatMap((f) => specifiers(f).filter((s) => !allowed(target(f, s), s, f)).map((s) => `${f} imports '${s}'`));
}

describe('import rules', () => {
  it('src/kernels imports nothing outside itself', () => {
    expect(violations(sources('src/kernels'), (t, s) => t !== undefined && t.startsWith('src/kernels/') && !s.startsWith('node:'))).toEqual([]);
  });

  it('src/engine imports no host, app, bench or script, and nothing of Node', () => {
    expect(
      violations(sources('src/engine'), (t, s) => (t === undefined ? !s.startsWith('node:') && s !== 'webgpu' : /^(src\/(engine|kernels)\/|data\/)/.test(t))),
    ).toEqual([]);
  });

  it('src/app and scripts reach the engine only through the public API or a host', () => {
    const direct = (t: string | undefined) => t === undefined || !/^src\/(engine|kernels)\//.test(t);
    expect(violations(sources('src/app'), direct)).toEqual([]);
    // genKernels reads the WGSL templates as files (it makes src/kernels), not as modules.
    expect(violations(sources('scripts'), direct)).toEqual([]);
  });

  it('everything src/index.ts reaches is browser-safe', () => {
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const s of specifiers(file)) {
        const t = target(file, s);
        if (t === undefined) {
          if (s.startsWith('node:') || s === 'webgpu' || s.startsWith('h5wasm') || s === 'pngjs') bad.push(`${file} imports '${s}'`);
        } else if (t.endsWith('.ts')) visit(t);
      }
    };
    visit('src/index.ts');
    expect(seen.size).toBeGreaterThan(20);
    expect(bad).toEqual([]);
  });
});
