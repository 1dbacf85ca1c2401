// How many classes a model scores and their names, read from the model file and the dataset.
import type { Dataset } from "../data/dataset.ts";
import { classNamesFor } from "../data/class_names.ts";
import { readModel } from "../onnx/model.ts";

/** Class names for outputs (ImageNet's for 1000 outputs, else the dataset's when they match). */
export function namesFor(numClasses: number, dataset: Pick<Dataset, "classNames">): string[] | undefined {
  return classNamesFor(numClasses, dataset.classNames);
}

/**
 * The model's class count from its declared output shape, without opening a session (when the export left
 * it symbolic: the dataset's class count, else undefined), and the class names that go with it.
 */
export async function modelClasses(
  path: string,
  dataset: Pick<Dataset, "classNames">,
): Promise<{ numClasses?: number; names?: string[] }> {
  const model = await readModel(path);
  const last = model.graph.output[0]?.type?.tensorType?.shape?.dim?.at(-1);
  const numClasses = last?.dimValue !== undefined ? Number(last.dimValue) : dataset.classNames?.length;
  if (!numClasses) return {};
  const names = namesFor(numClasses, dataset);
  return { numClasses, ...(names ? { names } : {}) };
}
