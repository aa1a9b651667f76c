#!/usr/bin/env bash
# The whole training pipeline, from package registries to models/*.onnx and EVAL.md.
# Usage: bash models/train/run.sh [stage ...]   (stages: gather label train export demo eval)
set -euo pipefail
cd "$(dirname "$0")"
need=()
# Renderers and synthesisers the sources need (the music itself is fetched by gather.py).
for p in fluidsynth lmms espeak-ng mma openmpt123; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing Debian packages: ${need[*]} (apt-get install them, or run as root)" >&2; exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet -r requirements.txt
.venv/bin/pip install --quiet --no-deps musicnn==0.1.0
# pysinsy (the singing voice) builds from source against the venv's numpy and Cython.
.venv/bin/python -c "import pysinsy" 2>/dev/null ||
  .venv/bin/pip install --quiet --no-build-isolation pysinsy==0.0.5
exec .venv/bin/python pipeline.py "$@"
