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
#   --with-reference-tokenizers
#                        also HF tokenizers $REF_TOKENIZERS_VERSION from PyPI (the version
#                        that made shared/golden/*-fast.jsonl), the reference of
#                        tests/test_tokenizer_fast.py, in a Python venv (Debian's
#                        python3-venv when Python has none) at $ALBERT_CL_REF_VENV,
#                        default ${XDG_CACHE_HOME:-~/.cache}/albert-cl-ref-venv
set -euo pipefail

INTEL_OCL_VERSION=2026.2.0
TBB_VERSION=2023.2.0
INTEL_OCL_PREFIX=${INTEL_OCL_PREFIX:-/opt/albert-cl/intel-opencl-$INTEL_OCL_VERSION}
INTEL_OCL_ICD=/etc/OpenCL/vendors/intel-cpu-albert-cl.icd
REF_TOKENIZERS_VERSION=0.22.2
REF_VENV=${ALBERT_CL_REF_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/albert-cl-ref-venv}

packages=(
  cmake make gcc g++ pkg-config python3
  libsentencepiece-dev libcjson-dev libutf8proc-dev
  ocl-icd-opencl-dev opencl-c-headers libclblast-dev pocl-opencl-icd clinfo
  libsodium-dev libonig-dev libdnnl-dev
  # pytorch_model.bin: a zip archive
  libzip-dev
  # the CLI's --input-format csv; its gzip input
  libcsv-dev zlib1g-dev
  # albert-cl serve: its HTTP library; curl for its tests
  libmicrohttpd-dev curl
  # tools/fuzz.sh: clang (with its OpenMP, which the configure step finds),
  # libFuzzer's runtime, and llvm-symbolizer for readable sanitizer stacks
  clang libclang-rt-dev libomp-dev llvm
)
intel=0
ref_tokenizers=0
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(python3-torch) ;;
    --with-intel-opencl) intel=1 ;;
    --with-reference-tokenizers) ref_tokenizers=1 ;;
    *) echo "install-deps: unknown option '$arg'" \
            "(--bench, --with-intel-opencl, --with-reference-tokenizers)" >&2; exit 2 ;;
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

# The venv's tokenizers version, or nothing when it has none (or no venv).
ref_tokenizers_version() {
  "$REF_VENV/bin/python" -c 'import tokenizers; print(tokenizers.__version__)' 2>/dev/null || true
}

# Only the pinned tokenizers goes in: its Python side needs nothing else to
# load a tokenizer.json and encode (huggingface_hub is for downloads).
install_reference_tokenizers() {
  [ "$(ref_tokenizers_version)" = "$REF_TOKENIZERS_VERSION" ] && return 0
  # Debian's python3 leaves venv's ensurepip to the python3-venv package.
  python3 -c 'import venv, ensurepip' 2>/dev/null || install_packages python3-venv
  echo "install-deps: installing tokenizers $REF_TOKENIZERS_VERSION into $REF_VENV" >&2
  "$REF_VENV/bin/python" -c '' 2>/dev/null || python3 -m venv --clear "$REF_VENV"
  "$REF_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --only-binary=:all: "tokenizers==$REF_TOKENIZERS_VERSION"
  if [ "$(ref_tokenizers_version)" != "$REF_TOKENIZERS_VERSION" ]; then
    echo "install-deps: $REF_VENV/bin/python cannot import tokenizers $REF_TOKENIZERS_VERSION" >&2
    exit 1
  fi
}

install_packages "${packages[@]}"
if [ "$intel" = 1 ]; then
  install_intel_opencl
fi
if [ "$ref_tokenizers" = 1 ]; then
  install_reference_tokenizers
fi
