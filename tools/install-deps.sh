#!/usr/bin/env bash
# Installs every Debian package albert-cl needs to build, test and run.
# Idempotent and quiet: does nothing (quickly) when everything is present.
#
#   --bench              also PyTorch (Debian's python3-torch), for tools/bench.sh
#   --with-intel-opencl  also Intel's OpenCL runtime for x86 CPUs, a second OpenCL
#                        implementation beside PoCL: the PyPI wheels intel-opencl-rt,
#                        intel-cmplr-lib-rt and tbb, downloaded with pip (nothing is
#                        installed into any Python), unpacked into $INTEL_OCL_PREFIX
#                        and registered for the ICD loader in /etc/OpenCL/vendors, so
#                        that clinfo and albert-cl list it beside PoCL.
set -euo pipefail

INTEL_OCL_VERSION=2026.2.0
TBB_VERSION=2023.2.0
INTEL_OCL_PREFIX=${INTEL_OCL_PREFIX:-/opt/albert-cl/intel-opencl-$INTEL_OCL_VERSION}
INTEL_OCL_ICD=/etc/OpenCL/vendors/intel-cpu-albert-cl.icd

packages=(
  cmake make gcc g++ pkg-config python3
  libsentencepiece-dev libcjson-dev libutf8proc-dev libopenblas-dev
  ocl-icd-opencl-dev opencl-c-headers libclblast-dev pocl-opencl-icd clinfo
  libsodium-dev
  # tools/fuzz.sh: clang (with its OpenMP, which the configure step finds),
  # libFuzzer's runtime, and llvm-symbolizer for readable sanitizer stacks
  clang libclang-rt-dev libomp-dev llvm
)
intel=0
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(python3-torch) ;;
    --with-intel-opencl) intel=1 ;;
    *) echo "install-deps: unknown option '$arg' (--bench, --with-intel-opencl)" >&2; exit 2 ;;
  esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi

need_root() {
  if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
    echo "install-deps: need root or sudo to install: $*" >&2
    exit 1
  fi
}

# The Debian packages of "$@" not installed yet, installed.
install_packages() {
  local missing=() p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "${missing[*]}"
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# pip, for `pip download` only: Debian's python3-pip when Python has none.
ensure_pip() {
  python3 -m pip --version >/dev/null 2>&1 || install_packages python3-pip
}

# The runtime's libraries find each other through their $ORIGIN run path, so
# all three wheels' lib/ go into one folder.  The wheels' own libOpenCL (an
# ICD loader) stays out: Debian's loader picks the ICD files.
install_intel_opencl() {
  local lib="$INTEL_OCL_PREFIX/lib"
  if [ -f "$lib/libintelocl.so" ] && [ "$(cat "$INTEL_OCL_ICD" 2>/dev/null)" = "$lib/libintelocl.so" ]; then
    return 0
  fi
  ensure_pip
  need_root "Intel's OpenCL runtime into $INTEL_OCL_PREFIX"
  echo "install-deps: installing Intel's OpenCL runtime $INTEL_OCL_VERSION into $INTEL_OCL_PREFIX" >&2
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --dest "$tmp/wheels" \
    "intel-opencl-rt==$INTEL_OCL_VERSION" "intel-cmplr-lib-rt==$INTEL_OCL_VERSION" \
    "tbb==$TBB_VERSION"
  local whl
  for whl in "$tmp"/wheels/*.whl; do
    python3 -m zipfile -e "$whl" "$tmp/unpacked"
  done
  $sudo mkdir -p "$lib"
  $sudo cp -a "$tmp"/unpacked/*.data/data/lib/. "$lib/"
  $sudo rm -f "$lib"/libOpenCL.so*
  $sudo mkdir -p "$(dirname "$INTEL_OCL_ICD")"
  echo "$lib/libintelocl.so" | $sudo tee "$INTEL_OCL_ICD" >/dev/null
  rm -rf "$tmp"
}

install_packages "${packages[@]}"
if [ "$intel" = 1 ]; then
  install_intel_opencl
fi
