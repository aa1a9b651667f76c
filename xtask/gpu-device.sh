#!/usr/bin/env bash
# On a lent GPU machine (no network, 64 MiB per call): the far side of `cargo xtask gpu-pack`.
#
#   bash xtask/gpu-device.sh put N   # with carry [".gpu/N"]: keeps piece N in /tmp/mstag-gpu
#   bash xtask/gpu-device.sh run     # unpacks the pieces and runs `xtask gpu-check --device cuda`
#
# The binaries were built on the development machine with /work/main as the source tree, and
# look for the models, the demo clip and .ort/lib there: `run` links /work/main to this copy
# of the repository. Its report (and the regenerated BENCHMARKS.md) lands in $OUT.
set -euo pipefail
stash=/tmp/mstag-gpu
case "${1:-}" in
put)
    n="${2:?piece number}"
    mkdir -p "$stash"
    cp -r ".gpu/$n/." "$stash/"
    ls -la "$stash" "$stash"/bin "$stash"/lib 2>/dev/null || true
    ;;
run)
    repo="$(pwd)"
    if [ "$repo" != /work/main ]; then
        mkdir -p /work
        ln -sfn "$repo" /work/main
    fi
    lib=/work/main/.ort/lib
    mkdir -p "$lib" /work/main/target/release
    cp "$stash"/lib/* "$lib/"
    cat "$stash"/provider.xz.* | xz -d > "$lib/libonnxruntime_providers_cuda.so"
    ln -sf libonnxruntime.so.1.31.1 "$lib/libonnxruntime.so"
    echo 1.31.1 > "$lib/gpu"
    cp "$stash"/bin/* /work/main/target/release/
    nvidia-smi || true
    cd /work/main
    status=0
    target/release/xtask gpu-check --device cuda --bin-dir target/release || status=$?
    if [ -n "${OUT:-}" ]; then
        cp target/gpu-check/REPORT.md BENCHMARKS.md "$OUT/" 2>/dev/null || true
    fi
    exit "$status"
    ;;
*)
    echo "usage: $0 put N | run" >&2
    exit 2
    ;;
esac
