// The two skinny products that dominate NMF: V F^T (F = H or Q^T, K x c) and V^T X (X = W or VQ,
// stored X^T, K x n). Both stream V once in 64-wide tiles through workgroup memory, with loads that
// are contiguous along V's rows, and keep K accumulators per invocation. The problem axis of the grid
// indexes the active list, so converged problems are not visited.

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> live: array<u32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> factor: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const TILE: u32 = 64u;     // columns of V per chunk (vtf), columns per workgroup (vtx)
const TROWS: u32 = 64u;    // rows of V per workgroup (vtf)
const CROWS: u32 = 32u;    // rows of V per chunk (vtx)
// Row stride of the V tile in vtf: 68 = 64 + 4 makes the (row = lid / 4, column = lid % 4 + 4q) reads of
// a 32-wide subgroup hit 32 different banks.
const VSTRIDE: u32 = 68u;

var<workgroup> vtile: array<f32, 4352>;   // TROWS * VSTRIDE
var<workgroup> ftile: array<f32, K * TILE>;

// out[g][t][i] = sum_j V[g][i][j] * factor[g][t][j]: one workgroup per 64 rows of one problem.
// Each row is shared by 4 invocations that take interleaved columns, then summed in workgroup memory.
@compute @workgroup_size(256)
fn vtf(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = live[wid.y];
  let n = prm.n;
  let c = prm.c;
  let row0 = wid.x * TROWS;
  let vbase = g * n * c;
  let fbase = g * K * c;
  let r = lid / 4u;
  let s = lid % 4u;
  var acc: array<f32, K>;
  for (var j0 = 0u; j0 < c; j0 += TILE) {
    for (var m = 0u; m < TROWS * TILE / 256u; m++) {
      let e = lid + 256u * m;
      let rr = e / TILE;
      let cc = e % TILE;
      let row = row0 + rr;
      let col = j0 + cc;
      var x = 0.0;
      if (row < n && col < c) { x = v[vbase + row * c + col]; }
      vtile[rr * VSTRIDE + cc] = x;
    }
    for (var e = lid; e < K * TILE; e += 256u) {
      let col = j0 + e % TILE;
      var x = 0.0;
      if (col < c) { x = factor[fbase + (e / TILE) * c + col]; }
      ftile[e] = x;
    }
    workgroupBarrier();
    for (var q = 0u; q < TILE / 4u; q++) {
      let cc = s + 4u * q;
      let x = vtile[r * VSTRIDE + cc];
      for (var t = 0u; t < K; t++) { acc[t] += x * ftile[t * TILE + cc]; }
    }
    workgroupBarrier();
  }
  let row = row0 + r;
  for (var t = 0u; t < K; t++) {
    vtile[lid] = acc[t];
    workgroupBarrier();
    if (s == 0u && row < n) {
      out[g * K * n + t * n + row] = (vtile[lid] + vtile[lid + 1u]) + (vtile[lid + 2u] + vtile[lid + 3u]);
    }
    workgroupBarrier();
  }
}

// Partial V^T X over one block of rows: out[g][split][t][j] = sum_{i in split} V[g][i][j] * X^T[g][t][i].
// One workgroup per (64 columns, row block, problem); 4 invocations per column take interleaved rows.
// Splitting the rows gives enough workgroups for one problem; the partials are summed in a fixed order
// by the consumer (update_h or sum_splits), which keeps the result deterministic.
@compute @workgroup_size(256)
fn vtx(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = live[wid.z];
  let n = prm.n;
  let c = prm.c;
  let split = wid.y;
  let col0 = wid.x * TILE;
  let r_begin = split * prm.rows_per_split;
  let r_end = min(n, r_begin + prm.rows_per_split);
  let vbase = g * n * c;
  let xbase = g * K * n;
  let cc = lid % TILE;
  let s = lid / TILE;
  var acc: array<f32, K>;
  for (var i0 = r_begin; i0 < r_end; i0 += CROWS) {
    for (var m = 0u; m < CROWS * TILE / 256u; m++) {
      let e = lid + 256u * m;
      let rr = e / TILE;
      let row = i0 + rr;
      let col = col0 + e % TILE;
      var x = 0.0;
      if (row < r_end && col < c) { x = v[vbase + row * c + col]; }
      vtile[e] = x;
    }
    for (var e = lid; e < K * CROWS; e += 256u) {
      let row = i0 + e % CROWS;
      var x = 0.0;
      if (row < r_end) { x = factor[xbase + (e / CROWS) * n + row]; }
      ftile[e] = x;
    }
    workgroupBarrier();
    for (var q = 0u; q < CROWS / 4u; q++) {
      let rr = s + 4u * q;
      let x = vtile[rr * TILE + cc];
      for (var t = 0u; t < K; t++) { acc[t] += x * ftile[t * CROWS + rr]; }
    }
    workgroupBarrier();
  }
  let col = col0 + cc;
  let obase = (g * prm.splits + split) * K * c;
  for (var t = 0u; t < K; t++) {
    vtile[lid] = acc[t];
    workgroupBarrier();
    if (s == 0u && col < c) {
      out[obase + t * c + col] = (vtile[cc] + vtile[cc + 64u]) + (vtile[cc + 128u] + vtile[cc + 192u]);
    }
    workgroupBarrier();
  }
}
