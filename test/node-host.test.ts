// The Node host: SwiftShader fallback when there is no hardware adapter, and a message that says what
// to install when there is no adapter at all. Runs the host in child processes, since the Vulkan ICD
// choice is made per process.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedVulkanDrivers } from '../src/hosts/node/device.js';
import { describe, expect, it } from 'vitest';

function host(env: Record<string, string>): { out: string; code: number; stderr: string } {
  const script = `
    import { requestNodeAdapter } from './src/hosts/node/device.ts';
    try {
      const a = await requestNodeAdapter();
      console.log(JSON.stringify({ ok: true, software: a.software, vendor: a.adapter.info.vendor }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, message: String(e.message) }));
    }`;
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { out: r.stdout.trim().split('\n').at(-1)!, code: r.status ?? 1, stderr: r.stderr };
  } catch (e) {
    return { out: String((e as { stdout?: string }).stdout ?? ''), code: 1, stderr: '' };
  }
}

describe('Node host', () => {
  it('finds an adapter (hardware, or SwiftShader from Debian’s chromium), quietly', () => {
    const env: Record<string, string> = {};
    const h = host(env);
    const r = JSON.parse(h.out);
    expect(r.ok).toBe(true);
    if (r.software) expect(r.vendor).toMatch(/google|swiftshader/i);
    // Without a GPU driver, SwiftShader is chosen up front: Dawn's "Found no drivers" probe warning
    // (with a stack location from Dawn's build machine) never reaches the user.
    if (installedVulkanDrivers().length === 0) expect(h.stderr).toBe('');
  });

  it('lists the Vulkan drivers the loader would find, leaving out lavapipe (Dawn rejects it)', () => {
    const root = mkdtempSync(join(tmpdir(), 'gradcam-icd-'));
    try {
      const icd = join(root, 'data', 'vulkan', 'icd.d');
      mkdirSync(icd, { recursive: true });
      for (const f of ['nvidia_icd.json', 'lvp_icd.x86_64.json', 'README']) writeFileSync(join(icd, f), '{}');
      const env = { XDG_DATA_DIRS: join(root, 'data'), XDG_DATA_HOME: join(root, 'none'), XDG_CONFIG_HOME: join(root, 'none'), XDG_CONFIG_DIRS: join(root, 'none') };
      expect(installedVulkanDrivers(env).filter((p) => p.startsWith(root))).toEqual([join(icd, 'nvidia_icd.json')]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('says what to install when no adapter can be had', () => {
    const r = JSON.parse(host({ VK_ICD_FILENAMES: '/nonexistent/icd.json' }).out);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/No WebGPU adapter: Dawn found none with VK_ICD_FILENAMES=\/nonexistent\/icd\.json/);
    expect(r.message).toMatch(/apt-get install libvulkan1 chromium/);
  });
});
