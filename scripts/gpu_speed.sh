#!/usr/bin/env bash
# [7/8]'s GPU figures in one `device` call (about 6 minutes on an H100; carry .whl): guided sampling images/s of the
# shipped model, eager and compiled, at large batches; training images/s of a 25.3M-parameter net (the size of the
# project's 2,630 img/s reference), eager and compiled. Results under $OUT. CPU dry run:
#   OUT=/tmp/o BATCHES="2" MODES=eager TRAIN_BATCH=4 TRAIN_STEPS=1 COMPILE= bash scripts/gpu_speed.sh
set -u -o pipefail
BATCHES=${BATCHES-256 1024} MODES=${MODES-eager max-autotune-no-cudagraphs reduce-overhead}
TRAIN_BATCH=${TRAIN_BATCH-256} TRAIN_STEPS=${TRAIN_STEPS-30} COMPILE=${COMPILE---compile}
source scripts/gpu_env.sh
# shellcheck disable=SC2086
python3 benchmarks/gpu_sample_speed.py --batches $BATCHES --modes $MODES --json "$OUT/sample_speed.json" 2>&1 \
  | tee "$OUT/sample_speed.txt"
for c in "" "$COMPILE"; do
  # shellcheck disable=SC2086
  python3 benchmarks/train_throughput.py --presets base26 --channels 64 128 256 256 --batch "$TRAIN_BATCH" \
    --steps "$TRAIN_STEPS" $c 2>&1 | tee -a "$OUT/train_speed.txt"
  [ -n "$COMPILE" ] || break
done
cp "$WORK/machine.txt" "$OUT/"
