// Images made by the tests themselves live with the other synthetic data in src/engine/synthetic.ts.
export { syntheticPhoto } from '../../src/engine/synthetic.js';
