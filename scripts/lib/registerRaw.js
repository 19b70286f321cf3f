// Lets Node import WGSL sources the way vite does (`import code from './x.wgsl?raw'`), so the
// engine runs unbundled from the CLI: register a resolve/load hook for '?raw' specifiers.
import { register } from 'node:module';

register('./rawHooks.js', import.meta.url);
