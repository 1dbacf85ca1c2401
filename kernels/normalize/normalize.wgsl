// uint8 RGB images (N x H x W x 3, packed 4 bytes per u32) -> float32 NCHW, ImageNet-normalized.
// With samples > 1 each image is repeated `samples` times (image-major: row = image * samples + s) with
// seeded Gaussian noise of std `sigma` added in normalized space: the SmoothGrad noise tunnel's inputs.

// Invocations per workgroup, set by the dispatcher from NORMALIZE_WORKGROUP (settings.ts), which also sizes
// its grid. pcg: kernels/_hash.wgsl, compiled ahead of this file.
override WORKGROUP: u32;

struct Params {
  count: u32,      // output elements: n * samples * 3 * h * w
  h: u32,
  w: u32,
  samples: u32,
  sigma: f32,
  seed: u32,
  row_offset: u32, // first output row's global index, so noise does not depend on the batch split
  _pad: u32,
  mean: vec4<f32>,
  inv_std: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> pixels: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn uniform01(v: u32) -> f32 {
  // 24 random bits into (0, 1]: never 0, so log() below stays finite.
  return (f32(v >> 8u) + 1.0) / 16777216.0;
}

fn gaussian(key: u32) -> f32 {
  let a = pcg(key ^ pcg(p.seed));
  let b = pcg(a ^ 0x9e3779b9u);
  return sqrt(-2.0 * log(uniform01(a))) * cos(6.283185307 * uniform01(b));
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WORKGROUP;
  if (idx >= p.count) {
    return;
  }
  let plane = p.h * p.w;
  let pix = idx % plane;
  let c = (idx / plane) % 3u;
  let row = idx / (3u * plane);
  let image = row / p.samples;
  let byte_index = (image * plane + pix) * 3u + c;
  let byte = (pixels[byte_index >> 2u] >> ((byte_index & 3u) * 8u)) & 0xffu;
  var v = (f32(byte) / 255.0 - p.mean[c]) * p.inv_std[c];
  if (p.sigma > 0.0) {
    let global_row = row + p.row_offset;
    v = v + p.sigma * gaussian((global_row * 3u + c) * plane + pix);
  }
  out[idx] = v;
}
