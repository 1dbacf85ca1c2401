// Counts what a piece of code asks of the GPU (queue submits, bind groups made, and dispatches and workgroups
// per pipeline label) by wrapping the WebGPU prototypes while it runs. For benches that must report work done, not guess
// it: e.g. how many times a search pass pools each batch, whatever the code path.

export interface GpuWork {
  submits: number;
  bindGroups: number;
  /** Per pipeline label: dispatches recorded and workgroups they launch (direct dispatches). */
  pipelines: Record<string, { dispatches: number; workgroups: number }>;
}

/** Runs `body` with the counters installed (one at a time: they patch global prototypes) and returns both. */
export async function countGpuWork<T>(body: () => Promise<T>): Promise<{ result: T; work: GpuWork }> {
  const work: GpuWork = { submits: 0, bindGroups: 0, pipelines: {} };
  const queue = GPUQueue.prototype;
  const device = GPUDevice.prototype;
  const { createBindGroup } = device;
  const pass = GPUComputePassEncoder.prototype;
  const { submit } = queue;
  const { setPipeline, dispatchWorkgroups } = pass;
  // The pipeline each pass has set last: dispatches are attributed to it.
  const current = new WeakMap<GPUComputePassEncoder, string>();
  device.createBindGroup = function (this: GPUDevice, descriptor: GPUBindGroupDescriptor) {
    work.bindGroups++;
    return createBindGroup.call(this, descriptor);
  };
  queue.submit = function (this: GPUQueue, buffers: GPUCommandBuffer[]) {
    work.submits++;
    return submit.call(this, buffers);
  };
  pass.setPipeline = function (this: GPUComputePassEncoder, pipeline: GPUComputePipeline) {
    current.set(this, pipeline.label);
    return setPipeline.call(this, pipeline);
  };
  pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, x: number, y = 1, z = 1) {
    const label = current.get(this) ?? "";
    const entry = work.pipelines[label] ??= { dispatches: 0, workgroups: 0 };
    entry.dispatches++;
    entry.workgroups += x * y * z;
    return dispatchWorkgroups.call(this, x, y, z);
  };
  try {
    return { result: await body(), work };
  } finally {
    queue.submit = submit;
    device.createBindGroup = createBindGroup;
    pass.setPipeline = setPipeline;
    pass.dispatchWorkgroups = dispatchWorkgroups;
  }
}
