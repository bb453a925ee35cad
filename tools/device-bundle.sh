#!/usr/bin/env bash
# Packs what tools/device-check.sh needs on a borrowed GPU machine into
# build-device/albert-cl-device.tar.xz: that machine has none of our Debian
# libraries and no ../shared, and only the working tree plus a few carried
# ignored paths (64 MiB in all) travel there.
#
# The archive holds:
#   bin/       albert-cl, albert-cl-tune (installed: no RUNPATH into build/)
#   lib/       libalbertcl and every non-glibc library ldd lists (ICD loader,
#              CLBlast, oneDNN, sentencepiece, cJSON, utf8proc, gomp, ...)
#   glibc/     Debian's glibc, libgcc_s and libstdc++, for running through the
#              carried ld-linux when the device's own libc is too old
#   profiles/  the profiles this build understands (the tree's may be newer)
#   models/    tiny-gelu, tiny-groups, tiny-f16; albert-base-v2's config.json
#              and spiece.model (its weights are generated on the device)
#   golden/    the tiny models' golden outputs
#   BUNDLE-INFO.txt
#
# usage: bash tools/device-bundle.sh      (from anywhere; env ALBERT_CL_SHARED)
set -euo pipefail
cd "$(dirname "$0")/.."

shared="${ALBERT_CL_SHARED:-../shared}"
build=build
out_dir="build-device"
archive="$out_dir/albert-cl-device.tar.xz"
tiny_models="tiny-gelu tiny-groups tiny-f16"
# The set carried for the fallback through ld-linux; libgcc_s and libstdc++
# go with it because they must match the libc they run on.
glibc_re='^(ld-linux-x86-64|libc|libm|libmvec|libpthread|libdl|librt|libgcc_s|libstdc\+\+)\.so'

build_release() {
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  local type
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
  if [ "$type" != Release ]; then
    echo "device-bundle: $build/ is a '$type' build; the device check wants Release" >&2
    exit 1
  fi
  cmake --build "$build" -j2 --target albertcl albert-cl albert-cl-tune
}

# Every library the staged binaries load, resolved on this machine.
needed_libs() {
  local stage="$1"
  LD_LIBRARY_PATH="$stage/lib" ldd "$stage"/bin/* "$stage"/lib/libalbertcl.so.* |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' |
    sort -u
}

copy_libs() {
  local stage="$1" path name
  for path in $(needed_libs "$stage"); do
    name=$(basename "$path")
    case "$path" in "$stage"/*) continue ;; esac
    if [[ "$name" =~ $glibc_re ]]; then
      cp -L "$path" "$stage/glibc/$name"
    else
      cp -L "$path" "$stage/lib/$name"
    fi
  done
  # Stubs since glibc 2.34, but an older NVIDIA library may still ask for them.
  for name in libpthread.so.0 libdl.so.2 librt.so.1; do
    [ -e "$stage/glibc/$name" ] || cp -L "/lib/x86_64-linux-gnu/$name" "$stage/glibc/$name"
  done
}

copy_data() {
  local stage="$1" m
  for m in $tiny_models; do
    mkdir -p "$stage/models/$m"
    cp "$shared/models/$m"/{config.json,spiece.model,model.safetensors} "$stage/models/$m/"
    cp "$shared/golden/$m".{json,safetensors} "$stage/golden/"
  done
  mkdir -p "$stage/models/albert-base-v2"
  cp "$shared/models/albert-base-v2"/{config.json,spiece.model} "$stage/models/albert-base-v2/"
}

write_info() {
  local stage="$1"
  {
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "uncommitted changes (sha256 of git diff HEAD): $(git diff HEAD 2>/dev/null | sha256sum | cut -c1-16)"
    echo "glibc: $(ldd --version | head -1)"
    echo "albert-cl: $("$stage/bin/albert-cl" --version)"
    (cd "$stage" && find . -type f ! -name BUNDLE-INFO.txt | sort | xargs sha256sum)
  } >"$stage/BUNDLE-INFO.txt"
}

main() {
  build_release
  stage=$(mktemp -d /tmp/albert-cl-bundle.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  cmake --install "$build" --prefix "$stage/install" >/dev/null
  mkdir -p "$stage/pack"/{bin,lib,glibc,golden,models}
  local pack="$stage/pack"
  cp "$stage/install/bin"/albert-cl{,-tune} "$pack/bin/"
  # the name the binaries ask for: libalbertcl.so.SOVERSION
  local soname
  soname=$(objdump -p "$stage/install/lib/libalbertcl.so" | awk '$1 == "SONAME" { print $2 }')
  cp -L "$stage/install/lib/$soname" "$pack/lib/"
  cp -r "$stage/install/share/albert-cl/profiles" "$pack/profiles"
  copy_libs "$pack"
  copy_data "$pack"
  write_info "$pack"

  mkdir -p "$out_dir"
  rm -f "$archive"
  XZ_OPT=-9 tar -C "$pack" -cJf "$archive" .
  echo "device-bundle: $archive: $(du -h "$archive" | cut -f1)" \
       "($(du -sh "$pack" | cut -f1) unpacked)"
  echo "device-bundle: libraries: $(find "$pack/lib" -type f -printf "%f ")"
  echo "device-bundle: glibc set: $(find "$pack/glibc" -type f -printf "%f ")"
  echo "device-bundle: travels with the tree: $(git ls-files -co --exclude-standard |
       xargs du -ch | tail -1 | cut -f1) + $(du -sh "$out_dir" | cut -f1) (limit 64 MiB)"
}

main "$@"
