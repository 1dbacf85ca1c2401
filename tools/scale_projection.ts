// deno run tools/scale_projection.ts: prints docs/scale.md's ImageNet-val projection (ResNet-50 layer3.5 on an
// NVIDIA H200) as a Markdown table, from src/bench/scale_projection.ts.
import { projectionTable } from "../src/bench/scale_projection.ts";

console.log(projectionTable());
