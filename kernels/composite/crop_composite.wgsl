// Crop composites: for each composite (one class), its k crops, one cell of the pooled grid each, stacked top
// to bottom into a (k * size) x size image. Two outputs from the same gather: the model's normalized float
// NCHW input (same formula as kernels/normalize/normalize.wgsl), and packed uint8 RGB (HWC) for figures.

// Invocations per workgroup, set by the dispatcher from COMPOSITE_WORKGROUP (settings.ts), which also sizes
// its grid.
override WORKGROUP: u32;

struct Params {
  count: u32,       // invocations needed: output floats (normalized) or output u32 words (rgb8)
  composites: u32,
  crops: u32,       // k: crops per composite
  size: u32,        // crop side in pixels
  image_size: u32,  // side of the prepared images (224)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
  mean: vec4<f32>,
  inv_std: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> pixels: array<u32>;  // images x image_size x image_size x 3 uint8, packed
@group(0) @binding(1) var<storage, read> cells: array<u32>;   // per crop: image slot, cell row, cell column
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> out_float: array<f32>; // [composites, 3, k * size, size]
@group(0) @binding(4) var<storage, read_write> out_rgb: array<u32>;   // [composites, k * size, size, 3] packed

// Byte of channel ch at output pixel (oy, ox) of composite o.
fn source_byte(o: u32, oy: u32, ox: u32, ch: u32) -> u32 {
  let crop = o * p.crops + oy / p.size;
  let slot = cells[crop * 3u];
  let sy = cells[crop * 3u + 1u] * p.size + oy % p.size;
  let sx = cells[crop * 3u + 2u] * p.size + ox;
  let b = ((slot * p.image_size + sy) * p.image_size + sx) * 3u + ch;
  return (pixels[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

@compute @workgroup_size(WORKGROUP)
fn normalized(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WORKGROUP;
  if (idx >= p.count) {
    return;
  }
  // Consecutive invocations write consecutive floats of one output row.
  let height = p.crops * p.size;
  let ox = idx % p.size;
  let oy = (idx / p.size) % height;
  let ch = (idx / (p.size * height)) % 3u;
  let o = idx / (3u * p.size * height);
  out_float[idx] = (f32(source_byte(o, oy, ox, ch)) / 255.0 - p.mean[ch]) * p.inv_std[ch];
}

@compute @workgroup_size(WORKGROUP)
fn rgb8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let word = gid.x + gid.y * nwg.x * WORKGROUP;
  if (word >= p.count) {
    return;
  }
  let height = p.crops * p.size;
  let total = p.composites * height * p.size * 3u;
  var packed = 0u;
  for (var j = 0u; j < 4u; j++) {
    let b = word * 4u + j;
    if (b < total) {
      let pix = b / 3u;
      let ox = pix % p.size;
      let oy = (pix / p.size) % height;
      let o = pix / (p.size * height);
      packed |= source_byte(o, oy, ox, b % 3u) << (8u * j);
    }
  }
  out_rgb[word] = packed;
}
