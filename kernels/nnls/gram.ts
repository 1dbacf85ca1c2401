// The two products the per-position solves need, on the CPU: the k x k Gram matrix G = H H^T of the basis
// (one per class, shared by every position) and b = H a for every position of an NCHW activation block.
// gram() is used by the GPU path too (k^2 C multiply-adds are nothing); project() is the CPU twin of
// project.wgsl.

/** G = H H^T of a k x C basis (rows = prototypes), row-major k x k. */
export function gram(basis: Float32Array, k: number, channels: number): Float64Array {
  const g = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += basis[i * channels + c] * basis[j * channels + c];
      g[i * k + j] = g[j * k + i] = s;
    }
  }
  return g;
}

/** b[q * k + j] = H_j . a_q for every position q = image * hw + p of n images of C x hw activations. */
export function project(
  activations: Float32Array,
  basis: Float32Array,
  n: number,
  channels: number,
  hw: number,
  k: number,
): Float64Array {
  const b = new Float64Array(n * hw * k);
  for (let img = 0; img < n; img++) {
    const block = img * channels * hw;
    for (let j = 0; j < k; j++) {
      const row = j * channels;
      for (let c = 0; c < channels; c++) {
        const h = basis[row + c];
        if (h === 0) continue;
        const plane = block + c * hw;
        for (let p = 0; p < hw; p++) b[(img * hw + p) * k + j] += h * activations[plane + p];
      }
    }
  }
  return b;
}

/** Squared residual ||a_q - H^T x_q||^2 and ||a_q||^2 of every position (CPU twin of residual.wgsl). */
export function residuals(
  activations: Float32Array,
  basis: Float32Array,
  x: ArrayLike<number>,
  n: number,
  channels: number,
  hw: number,
  k: number,
): { error: Float64Array; norm: Float64Array } {
  const error = new Float64Array(n * hw);
  const norm = new Float64Array(n * hw);
  for (let img = 0; img < n; img++) {
    for (let p = 0; p < hw; p++) {
      const q = img * hw + p;
      let e = 0, a2 = 0;
      for (let c = 0; c < channels; c++) {
        const a = activations[img * channels * hw + c * hw + p];
        let r = a;
        for (let j = 0; j < k; j++) r -= basis[j * channels + c] * x[q * k + j];
        e += r * r;
        a2 += a * a;
      }
      error[q] = e;
      norm[q] = a2;
    }
  }
  return { error, norm };
}
