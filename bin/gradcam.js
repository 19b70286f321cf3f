#!/usr/bin/env node
// `npx gradcam …`. From the installed package: the built JavaScript (dist/lib/node/gradcam.js, WGSL
// inlined), nothing else at run time. From a checkout of the repository (src/ is next to bin/): the
// TypeScript source through tsx and the '?raw' WGSL loader, so a stale dist/ is never what runs.
import { existsSync } from 'node:fs';

if (existsSync(new URL('../src/node.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../scripts/lib/registerRaw.js');
  await import('../scripts/gradcam.ts');
} else {
  await import('../dist/lib/node/gradcam.js');
}
