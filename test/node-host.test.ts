// The Node host: SwiftShader fallback when there is no hardware adapter, and a message that says what
// to install when there is no adapter at all. Runs the host in child processes, since the Vulkan ICD
// choice is made per process.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function host(env: Record<string, string>): { out: string; code: number } {
  const script = `
    import { requestNodeAdapter } from './src/engine/node.ts';
    try {
      const a = await requestNodeAdapter();
      console.log(JSON.stringify({ ok: true, software: a.software, vendor: a.adapter.info.vendor }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, message: String(e.message) }));
    }`;
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { out: out.trim().split('\n').at(-1)!, code: 0 };
  } catch (e) {
    return { out: String((e as { stdout?: string }).stdout ?? ''), code: 1 };
  }
}

describe('Node host', () => {
  it('finds an adapter (hardware, or SwiftShader from Debian’s chromium)', () => {
    const env: Record<string, string> = {};
    const r = JSON.parse(host(env).out);
    expect(r.ok).toBe(true);
    if (r.software) expect(r.vendor).toMatch(/google|swiftshader/i);
  });

  it('says what to install when no adapter can be had', () => {
    const r = JSON.parse(host({ VK_ICD_FILENAMES: '/nonexistent/icd.json' }).out);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/No WebGPU adapter: Dawn found none with VK_ICD_FILENAMES=\/nonexistent\/icd\.json/);
    expect(r.message).toMatch(/apt-get install libvulkan1 chromium/);
  });
});
