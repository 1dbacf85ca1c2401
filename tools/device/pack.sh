#!/usr/bin/env bash
# Packs what tools/device/check.sh needs on a device machine (no network, no Deno) into ignored folders that
# the device tool's `carry` takes along: .deno-carry/ (deno, the few node_modules files protoscope loads,
# captum's source) and .gl/ (the Vulkan loader, which the machine may lack). About 40 MiB in all.
#   CAPTUM_GIT=/work/.mirror/pytorch+captum/repo bash tools/device/pack.sh
# then run(command="bash tools/device/check.sh", carry=[".deno-carry", ".gl"], timeout_s=560).
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=.deno-carry
mkdir -p "$carry"
deno_bin=$(readlink -f "$(command -v deno)")
deno install --quiet
[ -s "$carry/deno.xz" ] || xz -T0 -6 -c "$deno_bin" >"$carry/deno.xz"

# onnxruntime-web's dist holds ~130 MB of builds; protoscope loads the WebGPU bundle and the asyncify wasm.
ort=node_modules/.deno/onnxruntime-web@1.30.0/node_modules/onnxruntime-web/dist
excludes=()
for f in "$ort"/*; do
  case "$(basename "$f")" in
  ort.webgpu.bundle.min.mjs | ort-wasm-simd-threaded.asyncify.mjs | ort-wasm-simd-threaded.asyncify.wasm) ;;
  *) excludes+=("--exclude=$f") ;;
  esac
done
tar -cf - "${excludes[@]}" node_modules | xz -T0 -6 >"$carry/node_modules.tar.xz"

if [ -n "${CAPTUM_GIT:-}" ]; then
  git --git-dir="$CAPTUM_GIT" archive HEAD captum | xz -6 >"$carry/captum.tar.xz"
  git --git-dir="$CAPTUM_GIT" rev-parse HEAD >"$carry/captum.commit"
fi

if [ ! -d .gl ] || ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 >/dev/null)
fi
du -sh "$carry" .gl
