// Live and peak bytes of the GPU buffers made on the shared device: our kernels' and, since ORT's WebGPU EP
// runs on the same device, the model's. The rehearsal reports the peak per stage. A buffer dropped without
// destroy() stays counted until the process ends (WebGPU gives no hook for its collection), so the peak is
// an upper bound of what was live at once.
let live = 0;
let peak = 0;
let metered = false;

/** Counts every buffer `device` creates from now on; call once, on the shared device. */
export function meterGpuBuffers(device: GPUDevice): void {
  if (metered) return;
  metered = true;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
    const buffer = create(descriptor);
    const size = descriptor.size;
    live += size;
    peak = Math.max(peak, live);
    const destroy = buffer.destroy.bind(buffer);
    let destroyed = false;
    buffer.destroy = () => {
      if (!destroyed) {
        destroyed = true;
        live -= size;
      }
      destroy();
    };
    return buffer;
  };
}

/** The most bytes of GPU buffers live at once in this process; null when it never opened the device. */
export function peakGpuBufferBytes(): number | null {
  return metered ? peak : null;
}
