// The input the classifiers expect (torchvision's ImageNet convention), written once: the prepared images,
// the normalization kernels, the composites and the model runner all read it from here.

/** Side of the square model input in pixels. */
export const IMAGE_SIZE = 224;

/** Side of a prepared (cached) image: the cache holds model-ready crops, so it is the input side. */
export const PREPARED_IMAGE_SIZE = IMAGE_SIZE;

/** Per-channel (RGB) mean and standard deviation of the normalization x' = (x / 255 - mean) / std. */
export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** RGB of a blank crop where a prototype has no position: the ImageNet mean, so it normalizes to ~0. */
export const BLANK_RGB: readonly number[] = IMAGENET_MEAN.map((m) => Math.round(m * 255));
