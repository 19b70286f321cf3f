#!/usr/bin/env node
// `npx gradcam …`: runs scripts/gradcam.ts in this process, with tsx and the '?raw' WGSL loader
// registered first (one Node start, so a mistyped flag is answered at once).
import { register } from 'tsx/esm/api';

register();
await import('../scripts/lib/registerRaw.js');
await import('../scripts/gradcam.ts');
