// The gradient rules by op type, one table over the op families (as onnxruntime-web resolves ops by name),
// and the choice of rule per method: DeepLift takes its Rescale rule where deeplift.ts has one for the op and
// the ordinary gradient rule otherwise.
import type { GradientRule } from "../context.ts";
import type { AttributionMethod } from "../options.ts";
import { ACTIVATION_RULES } from "./activations.ts";
import { ARITHMETIC_RULES } from "./arithmetic.ts";
import { CONV_RULES } from "./conv.ts";
import { RESCALE_RULES } from "./deeplift.ts";
import { LINEAR_RULES } from "./linear.ts";
import { NORMALIZATION_RULES } from "./normalization.ts";
import { POOLING_RULES } from "./pooling.ts";
import { SHAPE_RULES } from "./shape_ops.ts";
import { TRANSFORMER_RULES } from "./transformer.ts";

/** The ordinary gradient rule of every op the generator can differentiate. */
export const GRADIENT_RULES: ReadonlyMap<string, GradientRule> = new Map(Object.entries({
  ...CONV_RULES,
  ...NORMALIZATION_RULES,
  ...ACTIVATION_RULES,
  ...ARITHMETIC_RULES,
  ...POOLING_RULES,
  ...SHAPE_RULES,
  ...LINEAR_RULES,
  ...TRANSFORMER_RULES,
}));

/** Ops the generator can differentiate (on the path from the tap to the logits); Constant has no inputs. */
export const SUPPORTED_OPS: readonly string[] = [...GRADIENT_RULES.keys(), "Constant"].sort();

/** The rule that differentiates `opType` under `method`, or undefined when there is none. */
export function gradientRule(opType: string, method: AttributionMethod): GradientRule | undefined {
  return (method === "deeplift" ? RESCALE_RULES.get(opType) : undefined) ?? GRADIENT_RULES.get(opType);
}

/** Whether DeepLift's rule for `opType` reads the baseline's forward values. */
export function readsBaseline(opType: string): boolean {
  return RESCALE_RULES.has(opType);
}
