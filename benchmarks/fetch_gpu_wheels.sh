#!/usr/bin/env bash
# Fetch what benchmarks/gpu.sh installs on the GPU machine (which has no network): onnxruntime-gpu for its Python
# (3.12) and CUDA (13), into the git-ignored benchmarks/wheels/. With a part size (e.g. 12m) the wheel is split so
# that successive device calls can carry it under their transfer limit; gpu.sh joins the parts.
#
#   bash benchmarks/fetch_gpu_wheels.sh [PART_SIZE]
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p wheels
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d wheels "onnxruntime-gpu>=1.31"
if [ $# -ge 1 ]; then
    for wheel in wheels/*.whl; do split -b "$1" "$wheel" "$wheel.part-" && rm "$wheel"; done
fi
ls -la wheels
