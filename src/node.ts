// gradcam-webgpu for Node: the engine plus the Node host (Dawn from the npm package `webgpu`, weights
// from a converted directory on disk, the kernel choice cached in a file, images decoded as PIL does).
//   const { cam, close } = await openGradCam({ weights: 'weights/vgg16' });
//   const result = await cam.run(await readImage('photo.jpg'));
export * from './engine/index.js';
export { installedVulkanDrivers, NoAdapterError, requestNodeAdapter, requestNodeDevice } from './engine/node.js';
export { fileTuningStore } from './engine/tuningStore.node.js';
export { DEFAULT_WEIGHTS_DIR, loadWeightsFromDir, readWeightsManifest } from './engine/weights/node.js';
export { openGradCam, type NodeOpenOptions } from './hosts/node/openGradCam.js';
export { decodeImageBytes, encodeImage, ImageFormatError, readImage } from './hosts/node/images/imageFiles.js';
