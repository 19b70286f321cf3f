// gradcam-webgpu for Node: the engine plus the Node host (Dawn from the npm package `webgpu`, weights
// from a converted directory on disk, the kernel choice cached in a file, images decoded as PIL does).
//   const { cam, close } = await openGradCam({ weights: 'weights/vgg16' });
//   const result = await cam.run(await readImage('photo.jpg'));
export * from './engine/index.js';
export { installedVulkanDrivers, NoAdapterError, requestNodeAdapter, requestNodeDevice } from './hosts/node/device.js';
export { fileTuningStore } from './hosts/node/tuningStore.js';
export { DEFAULT_WEIGHTS_DIR, loadWeightsFromDir, readWeightsManifest } from './hosts/node/weights.js';
export { openGradCam, type NodeOpenOptions } from './hosts/node/openGradCam.js';
export { decodeImageBytes, encodeImage, ImageFormatError, readImage, writeFilesAtomically } from './hosts/node/images/imageFiles.js';
