#!/usr/bin/env bash
# Issue 11's net of six paintings (light2-8, conditional instance normalisation): the command that trained the
# shipped models/six-paintings*.onnx (6800 steps: 95 min at 1.2 steps/s on this project's 2-core CPU; then
# `impasto export precision six-paintings --content-dir ../shared/images/content` for fp16 and int8). Resumable: run it
# again after an interruption and it continues from its checkpoint in benchmarks/training/six-paintings/.
# Needs the export extra and the training photos in ../shared/images/training (third-party: for training only).
set -euo pipefail
cd "$(dirname "$0")/../.."
S=models/images
exec .venv/bin/impasto train --name six-paintings \
  --style $S/starry-night.jpg --style $S/great-wave.jpg --style $S/the-scream.jpg \
  --style $S/composition-vii.jpg --style $S/shipwreck-of-the-minotaur.jpg --style $S/udnie.jpg \
  --content-dir ../shared/images/training --architecture light2-8 --size 192 --batch-size 2 \
  --iterations 6800 --learning-rate 2e-3 --style-weight 2 --checkpoint-every 100 --preview-every 600 \
  --work benchmarks/training/six-paintings -o trained --device cpu --no-download "$@"
