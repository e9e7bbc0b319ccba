#!/usr/bin/env bash
# The GPU check of issue 4, for the lent GPU machine (the `device` tool), from the repository root, in < 8 minutes:
#
#   run: bash benchmarks/gpu.sh        carry: ["benchmarks/wheels"]        results: $OUT/*
#
# That machine has Python 3.12 with torch (CUDA 13), onnx, onnxscript, numpy, scipy, OpenCV and matplotlib, but
# only the CPU build of onnxruntime, and no network. onnxruntime-gpu (1.31+, built for CUDA 13, whose libraries
# torch's nvidia-* packages provide) must come as a wheel in benchmarks/wheels/ (git-ignored; fetch it with
# benchmarks/fetch_gpu_wheels.sh). The wheel is ~255 MB and a call carries at most 64 MiB with the repository, so
# fetch_gpu_wheels.sh splits it into parts that successive calls carry; this script joins whatever parts are there.
# Without it the script still times PyTorch on the GPU, so the baseline exists.
#
# Writes to $OUT: gpu.log, bench_cuda.json/.png (full net 720p/1080p fp32+fp16, host / IO binding / CUDA graphs,
# and the shipped light net), bench_trt.json (TensorRT, if it loads), torch_cuda.jsonl, gatys512.txt.
set -uo pipefail
OUT=${OUT:-/tmp/impasto-gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
started=$(date +%s)
step() { echo; echo "== $* ($(($(date +%s) - started)) s)"; }

step machine
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 --version

step install
python3 -m venv --system-site-packages /tmp/impasto-venv && . /tmp/impasto-venv/bin/activate
shopt -s nullglob
for first in benchmarks/wheels/*.whl.part-aa; do
    wheel=${first%.part-aa}
    cat "$wheel".part-* > "$wheel" && echo "joined $wheel"
done
wheels=(benchmarks/wheels/*.whl)
if ((${#wheels[@]})); then pip install --no-index --no-deps -q "${wheels[@]}"; fi
pip install --no-deps --no-build-isolation -q . || pip install --no-deps -q .
python - <<'PY'
import onnxruntime as ort
print("onnxruntime", ort.__version__, ort.get_available_providers())
PY

step "export a freshly initialised full net (speed does not depend on the weights)"
python benchmarks/untrained_net.py full /tmp/full.onnx

step "PyTorch eager on the GPU (fp32, fp16)"
for half in "" --half; do
    timeout 120 python -m impasto.export.torch_baseline /tmp/full.onnx --device cuda --sizes 720x1280 1080x1920 \
        --runs 50 --warmup 10 $half | tee -a "$OUT/torch_cuda.jsonl" | cut -c1-160
done

step "impasto bench: CUDA, full net fp32/fp16 and the shipped light net, host / IO binding / CUDA graphs"
timeout 240 impasto bench /tmp/full.onnx /tmp/full.fp16.onnx great-wave --precision fp32 fp16 \
    --sizes 720x1280 1080x1920 --providers cuda --modes host iobinding cudagraph --runs 50 --warmup 10 \
    --cudnn-algo exhaustive --json "$OUT/bench_cuda.json" --plot "$OUT/bench_cuda.png" --quiet

step "impasto bench: TensorRT (fp16 engines, one profile for 720p-1080p, engine cache)"
timeout 150 impasto bench /tmp/full.onnx --sizes 720x1280 1080x1920 --providers tensorrt --modes iobinding \
    --trt-fp16 --trt-profile 720x1280 1080x1920 1080x1920 --cache-dir /tmp/impasto-cache --runs 50 --warmup 10 \
    --no-pytorch --json "$OUT/bench_trt.json" --plot /tmp/bench_trt.png --quiet

step "Gatys: 512 px, 500 L-BFGS iterations, one scale, on CUDA"
began=$(date +%s.%N)
timeout 120 impasto optimize --provider cuda --size 512 --iters 500 --scales 1 --quiet -o /tmp/gatys512.png
status=$?
echo "exit $status, $(python -c "print(round($(date +%s.%N) - $began, 2))") s wall (incl. session start)" \
    | tee "$OUT/gatys512.txt"

step "CUDA tests (node placement, IO binding, CUDA graphs)"
timeout 120 python -m pytest -q -p no:cacheprovider tests/test_bench.py tests/test_realtime.py tests/test_loss_graph.py \
    -k cuda 2>&1 | tail -5

step "done"
