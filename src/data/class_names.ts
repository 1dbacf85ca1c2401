// Class names for outputs: ImageNet's when the model has 1000 outputs, else the dataset's when they match.
import imagenetIndex from "./imagenet_class_index.json" with { type: "json" };

export const IMAGENET_CLASSES: { wnid: string; name: string }[] = Object.entries(
  imagenetIndex as unknown as Record<string, [string, string]>,
).sort((a, b) => Number(a[0]) - Number(b[0])).map(([, [wnid, name]]) => ({ wnid, name }));

export function classNamesFor(numClasses: number, datasetNames?: string[]): string[] | undefined {
  if (numClasses === IMAGENET_CLASSES.length) return IMAGENET_CLASSES.map((c) => c.name);
  if (datasetNames?.length === numClasses) return datasetNames;
  return undefined;
}
