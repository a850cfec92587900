#!/usr/bin/env bash
# [7/8]'s GPU figures in one `device` call (about 6–7 minutes on an H100; carry .whl), most important first, each part
# under its own time limit so that a slow compile costs only its own figure. Results under $OUT:
#   sample_eager.*   guided sampling images/s of the shipped model through the pipeline: fp32 weights + bf16 autocast
#                    vs weights cast to bf16, eager;
#   sample_compiled.* the same with torch.compile (default mode, then CUDA graphs = reduce-overhead if time is left;
#                    max-autotune-no-cudagraphs was still autotuning after 215 s on 2026-11-27);
#   train_*.txt      training images/s of a 25.3M-parameter net (the size of the project's 2,630 img/s reference),
#                    eager fp32/bf16 and compiled bf16, AdamW foreach vs fused.
# PARTS="sample" skips training (measured 2026-11-27: BENCHMARKS.md). CPU dry run:
#   OUT=/tmp/o SAMPLE_BATCH=2 TRAIN_BATCH=2 TRAIN_STEPS=1 COMPILE_MODES= TRAIN_COMPILE= LATE_MODES= bash scripts/gpu_speed.sh
set -u -o pipefail
SAMPLE_BATCH=${SAMPLE_BATCH-512} TRAIN_BATCH=${TRAIN_BATCH-256} TRAIN_STEPS=${TRAIN_STEPS-20}
COMPILE_MODES=${COMPILE_MODES-default+bf16} LATE_MODES=${LATE_MODES-reduce-overhead+bf16}
TRAIN_COMPILE=${TRAIN_COMPILE---compile} PARTS=${PARTS-sample train}
source scripts/gpu_env.sh
cp "$WORK/machine.txt" "$OUT/"
sample() {  # sample NAME LIMIT_S MODES...
  local name=$1 limit=$2
  shift 2
  timeout "$limit" python3 benchmarks/gpu_sample_speed.py --batches "$SAMPLE_BATCH" --repeats 2 --modes "$@" \
    --json "$OUT/$name.json" 2>&1 | tee "$OUT/$name.txt"
}
train() {  # train NAME LIMIT_S ARGS...
  local name=$1 limit=$2
  shift 2
  timeout "$limit" python3 benchmarks/train_throughput.py --presets base26 --channels 64 128 256 256 \
    --batch "$TRAIN_BATCH" --steps "$TRAIN_STEPS" --optimizers foreach fused "$@" 2>&1 | tee "$OUT/$name.txt"
}
if [[ " $PARTS " == *" sample "* ]]; then
  sample sample_eager 100 eager eager+bf16
  # shellcheck disable=SC2086
  [ -z "$COMPILE_MODES" ] || sample sample_compiled 150 $COMPILE_MODES
fi
if [[ " $PARTS " == *" train "* ]]; then
  train train_eager 80 --dtypes fp32 bf16
  # shellcheck disable=SC2086
  [ -z "$TRAIN_COMPILE" ] || train train_compiled 160 --dtypes bf16 $TRAIN_COMPILE
fi
# shellcheck disable=SC2086
[[ -z "$LATE_MODES" || " $PARTS " != *" sample "* ]] || sample sample_late 120 $LATE_MODES
