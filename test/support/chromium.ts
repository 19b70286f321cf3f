// Headless Chromium and the dev server, shared with `npm run bench -- --host chrome`.
export { chromiumPath, collectErrors, launchChromium, PROJECT_ROOT, startDevServer } from '../../src/bench/chromium.js';
