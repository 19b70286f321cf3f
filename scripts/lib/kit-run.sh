#!/bin/sh
# gradcam-webgpu device kit (built by `npm run kit`, scripts/lib/kitBuild.ts fills in the @…@ values).
# ./run.sh [--quick] [--check | --check-only [--check-filter a,b]] [--swiftshader] [bench flags]; --help lists them.
# Unpacks Node and Dawn on the first run (into this folder, or a temporary one where it is read-only),
# picks the Vulkan driver, and runs the benchmark with the kit's Node: no npm, no network.
set -eu

BUILD_ID='@BUILD_ID@'
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
KIT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)
say() { printf 'kit: %s\n' "$*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) say "this kit is for Linux x86-64; this is $(uname -s) $(uname -m)"; exit 1 ;;
esac

# ---- Node and Dawn, unpacked once per build
if [ -w "$KIT_DIR" ]; then
  RUN_DIR="$KIT_DIR/.unpacked"
else
  RUN_DIR="${TMPDIR:-/tmp}/gradcam-webgpu-kit-$(id -u)-$BUILD_ID"
fi
if [ -e "$RUN_DIR" ] && [ ! -O "$RUN_DIR" ]; then
  say "$RUN_DIR belongs to another user; set TMPDIR to a folder of yours"
  exit 1
fi
if [ "$(cat "$RUN_DIR/build-id" 2>/dev/null || true)" != "$BUILD_ID" ]; then
  command -v gzip >/dev/null 2>&1 || { say "gzip is needed to unpack node.gz and dawn.node.gz"; exit 1; }
  mkdir -p -m 700 "$RUN_DIR"
  say "first run: unpacking Node and Dawn into $RUN_DIR"
  gzip -dc "$KIT_DIR/node.gz" > "$RUN_DIR/node.$$"
  chmod 755 "$RUN_DIR/node.$$"
  mv -f "$RUN_DIR/node.$$" "$RUN_DIR/node"
  gzip -dc "$KIT_DIR/dawn.node.gz" > "$RUN_DIR/dawn.node.$$"
  mv -f "$RUN_DIR/dawn.node.$$" "$RUN_DIR/dawn.node"
  echo "$BUILD_ID" > "$RUN_DIR/build-id"
fi

# ---- Node must run from there, and Dawn must load
if ! "$RUN_DIR/node" --version >/dev/null 2>&1; then
  say "the kit's Node does not run from $RUN_DIR (a noexec mount? set TMPDIR, or make the kit folder writable)"
  exit 1
fi
# Dawn must load here (it needs glibc 2.34 and libstdc++ of GCC 12: Debian 12, Ubuntu 22.04 or newer)
if ! err=$("$RUN_DIR/node" -e 'require(process.argv[1])' "$RUN_DIR/dawn.node" 2>&1); then
  say "Dawn (dawn.node of the npm package webgpu) does not load on this system:"
  printf '%s\n' "$err" | grep -v '^ *at ' | head -5 >&2
  say "it needs glibc >= 2.34 and libstdc++ with GLIBCXX_3.4.30 (Debian 12, Ubuntu 22.04 or newer); this system has $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'an unknown glibc')"
  exit 1
fi

# ---- the Vulkan loader: the system's, else the kit's copy
has_system_library() {
  pattern=$(printf '%s' "$1" | sed 's/\./\\./g')
  for ldconfig in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
    if command -v "$ldconfig" >/dev/null 2>&1; then
      "$ldconfig" -p 2>/dev/null | grep -q "$pattern (libc6,x86-64)" && return 0
      return 1
    fi
  done
  for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64; do
    [ -e "$d/$1" ] && return 0
  done
  return 1
}
if ! has_system_library libvulkan.so.1; then
  say "no libvulkan.so.1 on this system: using the kit's Vulkan loader (lib/libvulkan.so.1)"
  LD_LIBRARY_PATH="$KIT_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
# NVIDIA's Vulkan driver needs libglvnd; CUDA containers often have the driver without it.
if [ -d "$KIT_DIR/lib/glvnd" ] && ! has_system_library libGLdispatch.so.0; then
  say "no libGLdispatch.so.0 on this system: using the kit's libglvnd (lib/glvnd)"
  LD_LIBRARY_PATH="$KIT_DIR/lib/glvnd${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi

# ---- the Vulkan driver (ICD)
swiftshader=0
for a in "$@"; do
  if [ "$a" = --swiftshader ]; then swiftshader=1; fi
done
use_swiftshader() {
  VK_ICD_FILENAMES=$SWIFTSHADER_ICD
  VK_DRIVER_FILES=$SWIFTSHADER_ICD
  export VK_ICD_FILENAMES VK_DRIVER_FILES
  say "$1: using SwiftShader ($SWIFTSHADER_ICD), a CPU rasteriser, NOT a GPU: the numbers are not GPU numbers"
}
if [ "$swiftshader" = 1 ]; then
  [ -e "$SWIFTSHADER_ICD" ] || { say "--swiftshader: $SWIFTSHADER_ICD does not exist (Debian/Ubuntu: apt-get install chromium)"; exit 1; }
  use_swiftshader "--swiftshader"
elif [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  say "Vulkan driver from the environment: ${VK_DRIVER_FILES:-$VK_ICD_FILENAMES}"
else
  standard=''
  nonstandard=''
  for d in /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d; do
    for f in "$d"/nvidia*.json "$d"/radeon*.json "$d"/amd*.json "$d"/intel*.json; do
      [ -e "$f" ] || continue
      case "$d" in
        /usr/local/nvidia/*) nonstandard="${nonstandard:+$nonstandard:}$f" ;;
        *) standard="${standard:+$standard }$f" ;;
      esac
    done
  done
  if [ -n "$standard" ]; then
    say "Vulkan GPU driver(s) found where the loader looks: $standard"
  elif [ -n "$nonstandard" ]; then
    VK_DRIVER_FILES=$nonstandard
    VK_ICD_FILENAMES=$nonstandard
    export VK_DRIVER_FILES VK_ICD_FILENAMES
    say "Vulkan GPU driver found outside the loader's search path: VK_DRIVER_FILES=$nonstandard"
    # The driver's libraries (libGLX_nvidia.so.0, …) usually sit beside it in the same tree.
    for lib in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
      case ":${LD_LIBRARY_PATH:-}:" in
        *":$lib:"*) ;;
        *) if [ -d "$lib" ]; then LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$lib"; export LD_LIBRARY_PATH; fi ;;
      esac
    done
  elif [ -e "$SWIFTSHADER_ICD" ]; then
    use_swiftshader "no NVIDIA, AMD or Intel Vulkan driver found"
  else
    say "no Vulkan GPU driver found (looked in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d, /usr/local/nvidia/share/vulkan/icd.d) and no SwiftShader; trying anyway"
  fi
fi

# ---- run
GRADCAM_KIT_DIR=$KIT_DIR
GRADCAM_KIT_DAWN_NODE=$RUN_DIR/dawn.node
export GRADCAM_KIT_DIR GRADCAM_KIT_DAWN_NODE
if [ -z "${GRADCAM_CACHE_DIR:-}" ] && [ -w "$KIT_DIR" ]; then
  GRADCAM_CACHE_DIR=$KIT_DIR/.cache
  export GRADCAM_CACHE_DIR
fi
exec "$RUN_DIR/node" "$KIT_DIR/kit.mjs" "$@"
