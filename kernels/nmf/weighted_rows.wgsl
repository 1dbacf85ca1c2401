// NMF input of a stage that factorizes attribution-weighted activations, built on the GPU:
//   out[g][i][y][x][ch] = act[keep[g][i]][ch][y][x] * maps[keep[g][i]][y][x]
// i.e. the (image, y, x) rows x channels matrix V of each problem g, from activations in the network's
// NCHW layout and one attribution map per image (host reference: weightedRows in
// src/pipeline/concepts/concepts.ts). A transpose through a TILE x TILE workgroup tile, so that both the read
// (along y x) and the write (along channels) are coalesced. Images not in `keep` (unreadable ones) leave
// no rows. One dispatch per problem; problems lie one after the other in `out`.

struct RowsParams {
  c: u32,
  hw: u32,
  tiles_hw: u32,      // ceil(hw / TILE)
  out_base: u32,      // first element of this problem in the bound range of `out`
}

@group(0) @binding(0) var<uniform> prm: RowsParams;
@group(0) @binding(1) var<storage, read> act: array<f32>;    // [images][c][hw]
@group(0) @binding(2) var<storage, read> maps: array<f32>;   // [images][hw]
@group(0) @binding(3) var<storage, read> keep: array<u32>;   // [output images] -> source image
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [output images][hw][c]

// Tile side, set by weighted_rows.ts from the TypeScript that sizes the grid with it (16: 256 invocations).
override TILE: u32;
var<workgroup> tile: array<f32, TILE * TILE>;

// Grid: x = tile of (hw, c) (tiles_hw * tiles_c of them), y = output image.
@compute @workgroup_size(TILE, TILE)
fn weighted_rows(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let i = wid.y;
  let src = keep[i];
  let c = prm.c;
  let hw = prm.hw;
  let p0 = (wid.x % prm.tiles_hw) * TILE;
  let ch0 = (wid.x / prm.tiles_hw) * TILE;
  // Read: consecutive invocations take consecutive positions of one channel.
  let p_in = p0 + lid.x;
  let ch_in = ch0 + lid.y;
  var x = 0.0;
  if (p_in < hw && ch_in < c) { x = act[(src * c + ch_in) * hw + p_in] * maps[src * hw + p_in]; }
  tile[lid.y * TILE + lid.x] = x;
  workgroupBarrier();
  // Write: consecutive invocations take consecutive channels of one row.
  let p_out = p0 + lid.y;
  let ch_out = ch0 + lid.x;
  if (p_out < hw && ch_out < c) { out[prm.out_base + (i * hw + p_out) * c + ch_out] = tile[lid.x * TILE + lid.y]; }
}
