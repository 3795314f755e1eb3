#!/usr/bin/env bash
# One call on a lent GPU machine (docs/gpu-session.md): the `gpu` tests, CUDA sampling timings and
# a training chunk that continues the shipped model. Every part runs even if an earlier one fails;
# all output goes to $OUT/session.log, the trained model to $OUT (weights, config, card).
#
#   bash scripts/gpu_session.sh [TRAIN_MINUTES] [DEVICE]
#
# Prepare first with `scripts/gpu_kit.py` (wheels + a corpus subset in .gpukit/) and carry .gpukit.
# A dry run here: OUT=/tmp/gpu-dry PY=.venv/bin/python SPEED_PRESETS=tiny bash scripts/gpu_session.sh 0.5 cpu
set -u
OUT=${OUT:-/tmp/gpu-out}
KIT=${KIT:-.gpukit}
PY=${PY:-python3}
TRAIN_MIN=${1:-5}
DEVICE=${2:-cuda}
SPEED_PRESETS=${SPEED_PRESETS:-small,paper}
LOG="$OUT/session.log"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
: >"$LOG"

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

{
  step "environment"
  if [ -d "$KIT/whl" ] && ! "$PY" -c "import soundfile, soxr" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$KIT"/whl/*.whl && export PYTHONPATH=/tmp/site
  fi
  export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  "$PY" -c "import torch, soundfile, soxr; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

  step "pytest -m gpu"
  timeout 240 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_pipeline.py tests/test_cqt.py

  step "sampling speed"
  timeout 240 "$PY" benchmarks/sampling_speed.py --device "$DEVICE" --presets "$SPEED_PRESETS" \
    --modes SimDPS,DPS,draft --max-full-s 60

  step "training chunk: $TRAIN_MIN min from models/piano-small"
  timeout $(awk "BEGIN{print int($TRAIN_MIN*60+180)}") "$PY" -m simdps_studio train \
    --data "$KIT/data" --out /tmp/gpu-run --init models/piano-small --device "$DEVICE" \
    --batch-size 16 --lr 4e-4 --warmup-steps 200 --ema-decay 0.999 --val-every 500 \
    --checkpoint-minutes 2 --max-minutes "$TRAIN_MIN"
  # The model only (weights, config with the training record, card): the optimiser state is
  # too big to bring back, so the next chunk continues with `train --init` from these weights.
  cp /tmp/gpu-run/weights.safetensors /tmp/gpu-run/config.json /tmp/gpu-run/MODEL_CARD.md "$OUT"/
  step "done"
} >>"$LOG" 2>&1
tail -40 "$LOG"
