#!/usr/bin/env bash
# One device lease: protoscope on an NVIDIA GPU through Deno's WebGPU (Vulkan), and PyTorch facts the
# development machines cannot give. Prepared by tools/device/pack.sh; every result lands in $OUT:
#   probe.txt      driver, Vulkan ICDs, the WebGPU adapter Deno sees
#   tests.txt      GPU-path correctness tests (captum/scikit-learn references, kernels) on the NVIDIA adapter
#   bench.json     deno task bench (forward, attribution, nmf, search, composites), adapter named inside
#   torch.json     the reference's captum pipeline timed on CUDA, and torch's own ONNX exports' node lists
#   log.txt        everything printed
# Each step has its own time limit so that one hang cannot eat the lease (about 9 minutes in all).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/protoscope-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
step() { echo "=== $(date +%T) $*"; }

step probe
{
  nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  uname -a; nproc; free -g | head -2
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
} >"$OUT/probe.txt" 2>&1
for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
PATH=$PATH:/sbin:/usr/sbin ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$icd
fi

step unpack
mkdir -p /tmp/denobin
# python3 unpacks: the machine's image may lack xz.
unxz_py='import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))'
untar_py='import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])'
python3 -c "$unxz_py" .deno-carry/deno.xz /tmp/denobin/deno && chmod +x /tmp/denobin/deno
export PATH=/tmp/denobin:$PATH DENO_DIR=/tmp/deno-dir
python3 -c "$untar_py" .deno-carry/node_modules.tar.xz .
deno --version | head -1
cat >/tmp/adapter.ts <<'TS'
const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
const info = adapter?.info;
console.log(JSON.stringify({ adapter: info ? {
  vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
  fallback: info.isFallbackAdapter,
} : null, limits: adapter ? {
  maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  maxBufferSize: adapter.limits.maxBufferSize,
  maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
} : null }));
TS
timeout 60 deno run -A /tmp/adapter.ts 2>&1 | tee -a "$OUT/probe.txt"

step tests
timeout 150 deno test -A tests/attribution_captum_test.ts tests/nmf_sklearn_test.ts tests/nmf_gpu_test.ts \
  tests/search_prototype_test.ts tests/composite_crop_test.ts tests/normalize_test.ts >"$OUT/tests.txt" 2>&1
echo "tests exit $?"; grep -E "passed|FAILED|relative error|iterations" "$OUT/tests.txt" | sed 's/\x1b\[[0-9;]*m//g' | tail -20

step bench
timeout 210 deno task bench --only forward,nmf,search,composites,attribution --out "$OUT/bench.json" \
  >/dev/null 2>"$OUT/bench.err"
echo "bench exit $?"; tail -5 "$OUT/bench.err"

step torch
mkdir -p /tmp/captum && python3 -c "$untar_py" .deno-carry/captum.tar.xz /tmp/captum
PYTHONPATH=/tmp/captum PYTHONUNBUFFERED=1 timeout 150 python3 tools/device/torch_reference.py "$OUT/torch.json"
echo "torch exit $?"
step done
