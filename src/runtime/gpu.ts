// The one GPUDevice of a process: onnxruntime-web's WebGPU EP and protoscope's own WGSL kernels share
// it, so tensors pass between the model and the kernels without leaving the GPU.
import { meterGpuBuffers } from "./gpu_meter.ts";

export interface GpuContext {
  device: GPUDevice;
  adapter: GPUAdapter;
  /** Human-readable adapter name for benches and manifests, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True for software rasterizers (llvmpipe, lavapipe, SwiftShader). */
  software: boolean;
}

let pending: Promise<GpuContext | undefined> | undefined;

/** Resolves to the shared device, or undefined when this machine has no WebGPU adapter. */
export function acquireGpu(): Promise<GpuContext | undefined> {
  pending ??= requestGpu();
  return pending;
}

async function requestGpu(): Promise<GpuContext | undefined> {
  if (!("gpu" in navigator) || !navigator.gpu) return undefined;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return undefined;
  const l = adapter.limits;
  // ORT and our kernels both want the largest buffers and workgroup storage the adapter allows.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
  const requiredFeatures = (["shader-f16", "timestamp-query", "subgroups"] as GPUFeatureName[])
    .filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  meterGpuBuffers(device);
  const info = adapter.info;
  const description = info.description ||
    [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") ||
    "unknown adapter";
  const software = info.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(description);
  device.lost.then((l) => {
    if (l.reason !== "destroyed") console.error(`WebGPU device lost: ${l.message}`);
  });
  return { device, adapter, description, software };
}

export function createStorageBuffer(
  device: GPUDevice,
  sizeOrData: number | ArrayBufferView,
  extraUsage: GPUBufferUsageFlags = 0,
  label?: string,
): GPUBuffer {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage;
  if (typeof sizeOrData === "number") {
    return device.createBuffer({ size: align4(Math.max(4, sizeOrData)), usage, label });
  }
  const buf = device.createBuffer({ size: align4(Math.max(4, sizeOrData.byteLength)), usage, label });
  device.queue.writeBuffer(
    buf,
    0,
    sizeOrData.buffer as ArrayBuffer,
    sizeOrData.byteOffset,
    sizeOrData.byteLength,
  );
  return buf;
}

export function createUniformBuffer(device: GPUDevice, data: ArrayBufferView, label?: string): GPUBuffer {
  const buf = device.createBuffer({
    size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    label,
  });
  device.queue.writeBuffer(buf, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  return buf;
}

/** Copies `size` bytes from `src` to the CPU. Each call costs one GPU round trip (~11 ms in Deno). */
export async function readBuffer(
  device: GPUDevice,
  src: GPUBuffer,
  size: number,
  offset = 0,
): Promise<ArrayBuffer> {
  const bytes = align4(size);
  const staging = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, size);
  staging.unmap();
  staging.destroy();
  return out;
}

export function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
