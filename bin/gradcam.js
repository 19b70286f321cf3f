#!/usr/bin/env node
// `npx gradcam …`: runs scripts/gradcam.ts with tsx and the '?raw' WGSL loader, passing everything through.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', `${root}scripts/lib/registerRaw.js`, `${root}scripts/gradcam.ts`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
