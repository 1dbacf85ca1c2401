// How a batch of factorizations is laid out on the GPU: problems of the same shape share dispatches, as
// many per dispatch group as fit the largest storage binding the device allows.

// The grid geometry below is written only here: kernels.ts passes each value to the WGSL as an override.

/** Rows of V per vtx workgroup; their partial products are summed afterwards. */
export const ROWS_PER_SPLIT = 256;
/** Elements of V per stats workgroup (STAT_CHUNK in init.wgsl; 64 per invocation). */
export const STAT_CHUNK = 16384;
/** Rows of V per residual workgroup (RES_ROWS in error.wgsl). */
export const RES_ROWS = 8;
/** Invocations per update_w / update_h workgroup (RW in hals.wgsl). */
export const UPDATE_WORKGROUP = 64;
/** Rows per invocation in update_w / update_h (RPT in hals.wgsl). */
export const ROWS_PER_INVOCATION = 4;
/** 32-lane groups per vtf workgroup (GROUPS in products.wgsl). */
export const VTF_GROUPS = 8;
/** Columns per vtx workgroup (VTX_COLUMNS in products.wgsl, its workgroup size). */
export const VTX_COLUMNS = 64;
/** Invocations per reduce_w / reduce_h workgroup (REDUCE_WORKGROUP in hals.wgsl). */
export const REDUCE_WORKGROUP = 64;
/** Invocations per workgroup of gram_tall and gram_h (GRAM_WORKGROUP in common.wgsl). */
export const GRAM_WORKGROUP = 64;
/** Bytes of one State in common.wgsl (a struct layout, checked by the solver's readback tests). */
export const STATE_BYTES = 32;

export interface GroupDims {
  n: number;
  c: number;
  k: number;
  p: number;
  splits: number;
  wTiles: number;
  hTiles: number;
  statTiles: number;
  resTiles: number;
}

export interface GroupPlan {
  dims: GroupDims;
  /** Indices into the caller's problem list, in order. */
  members: number[];
}

export function groupDims(n: number, c: number, k: number, p: number, rowsPerUpdateTile: number): GroupDims {
  return {
    n,
    c,
    k,
    p,
    splits: Math.ceil(n / ROWS_PER_SPLIT),
    wTiles: Math.ceil(n / rowsPerUpdateTile),
    hTiles: Math.ceil(c / rowsPerUpdateTile),
    statTiles: Math.ceil((n * c) / STAT_CHUNK),
    resTiles: Math.ceil(n / RES_ROWS),
  };
}

/** Bytes each per-problem buffer needs for one problem; every one must fit a storage binding. */
export function bytesPerProblem(d: GroupDims, partialWidth: number): Record<string, number> {
  return {
    v: d.n * d.c * 4,
    tall: d.p * d.n * 4,
    wide: d.p * d.c * 4,
    splitPartials: d.splits * d.p * d.c * 4,
    wt: d.k * d.n * 4,
    h: d.k * d.c * 4,
    updatePartials: Math.max(d.wTiles, d.hTiles) * partialWidth * 4,
    statPartials: d.statTiles * 8,
    resPartials: d.resTiles * 4,
  };
}

/**
 * Groups problems by shape (keeping input order) and splits each shape into dispatch groups no larger than
 * `maxBindingBytes` per buffer (and `maxBatch` problems, if given).
 */
export function planGroups(
  shapes: { n: number; c: number }[],
  dimsOf: (n: number, c: number) => GroupDims,
  partialWidth: number,
  maxBindingBytes: number,
  maxBatch = Infinity,
): GroupPlan[] {
  const byShape = new Map<string, number[]>();
  shapes.forEach(({ n, c }, i) => {
    const key = `${n}x${c}`;
    const list = byShape.get(key) ?? [];
    list.push(i);
    byShape.set(key, list);
  });
  const plans: GroupPlan[] = [];
  for (const members of byShape.values()) {
    const { n, c } = shapes[members[0]];
    const dims = dimsOf(n, c);
    const sizes = bytesPerProblem(dims, partialWidth);
    const largest = Object.entries(sizes).reduce((a, b) => (b[1] > a[1] ? b : a));
    if (largest[1] > maxBindingBytes) {
      throw new Error(
        `nmf: one ${n} x ${c} problem needs ${largest[1]} bytes for '${
          largest[0]
        }', more than the device's ` +
          `largest storage binding (${maxBindingBytes} bytes); factorize a smaller V`,
      );
    }
    const capacity = Math.max(1, Math.min(maxBatch, Math.floor(maxBindingBytes / largest[1])));
    for (let i = 0; i < members.length; i += capacity) {
      plans.push({ dims, members: members.slice(i, i + capacity) });
    }
  }
  return plans;
}
