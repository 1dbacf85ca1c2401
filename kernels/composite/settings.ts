// The settings of the composite family, written once for crop_composite.wgsl, its dispatcher and its CPU twin.
// What a crop is (its side from the pooled grid) is in crop_cells.ts; the normalization is the normalize
// family's (normalize/settings.ts), so a composite is the same input the model gets from normalize.
import { LINEAR_WORKGROUP } from "../_program.ts";

/** Invocations per workgroup of crop_composite.wgsl (its `override WORKGROUP`), which also sizes the grid. */
export const COMPOSITE_WORKGROUP = LINEAR_WORKGROUP;
