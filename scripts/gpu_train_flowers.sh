#!/usr/bin/env bash
# Train the shipped flowers model on a lent GPU (the `device` tool), in one call:
#   carry .whl (diffusers + importlib_metadata wheels) and .gpu/flowers-64.tar (scripts/pack_cache.py pack),
#   run `bash scripts/gpu_train_flowers.sh`; results come back under $OUT.
# Settings can be overridden for a CPU dry run: PRESET=tiny MINUTES=1 BATCH=8 WORKERS=2 COMPILE= OUT=/tmp/o bash ...
# EXTRA: more `diss train` flags, e.g. EXTRA="--loose 0.5" ([4/5]: the shipped recipe with loose-stroke renderings).
# The working tree that travels is limited to 64 MiB: `bash scripts/gpu_slim.sh on` first (the shipped U-Nets stay
# behind; training from scratch needs neither), `off` after.
set -u -o pipefail
PRESET=${PRESET-base} MINUTES=${MINUTES-7.5} BATCH=${BATCH-128} WORKERS=${WORKERS-12} COMPILE=${COMPILE---compile}
EXTRA=${EXTRA-}
source scripts/gpu_env.sh
python3 scripts/pack_cache.py unpack .gpu/flowers-64.tar "$WORK/cache" || exit 1
# SIGTERM (timeout) makes diss save a checkpoint; the export below then still runs
timeout -s TERM "$(python3 -c "print(int(float('$MINUTES') * 60 + 45))")" \
  python3 -m diss train --data "$WORK/cache" --out "$WORK/run" --preset "$PRESET" $COMPILE --batch-size "$BATCH" \
  --lr 3e-4 --lr-schedule cosine --warmup-steps 300 --ema-decay 0.9995 --max-steps 1000000 --time-limit "$MINUTES" \
  --workers "$WORKERS" --checkpoint-every 2000 --keep-checkpoints 2 --preview-every 2000 --log-every 100 --quiet $EXTRA \
  2>&1 | tee "$WORK/train.log"
python3 -m diss export "$WORK/run" --out "$WORK/model" 2>&1 | tee -a "$WORK/train.log"
# guided sampling throughput of the trained model on this device (bf16 autocast, channels_last, 20 DDIM steps)
python3 - "$WORK/model" 2>&1 <<'PY' | tee "$WORK/sample_speed.txt"
import sys, time, torch
from diss.pipeline import DiSSPipeline
dev = "cuda" if torch.cuda.is_available() else "cpu"
pipe = DiSSPipeline.from_pretrained(sys.argv[1]).to(dev)
pipe.set_progress_bar_config(disable=True)
pipe.unet.to(memory_format=torch.channels_last)
sk = torch.full((1, 64, 64), 255, dtype=torch.uint8).numpy(); sk[0, 20:44, 32] = 0
st = torch.full((64, 64, 3), 255, dtype=torch.uint8).numpy(); st[16:48, 16:48] = (200, 40, 60)
for n in ([256, 1024] if dev == "cuda" else [2]):
    with torch.autocast(dev, dtype=torch.bfloat16):
        pipe(sk[0], st, num_images=n, num_inference_steps=2, output_type="np")
        if dev == "cuda": torch.cuda.synchronize()
        t = time.perf_counter()
        pipe(sk[0], st, num_images=n, num_inference_steps=20, output_type="np",
             generator=torch.Generator().manual_seed(0))
        if dev == "cuda": torch.cuda.synchronize()
    dt = time.perf_counter() - t
    print(f"{dev} batch {n}: 20 guided DDIM steps, {n / dt:.1f} img/s ({dt:.2f} s)")
PY
# bring back: the model (split into ≤ 15 MiB parts), and the run's log, config, previews
tar -C "$WORK" -cf "$WORK/model.tar" model && split -b 15M -d "$WORK/model.tar" "$OUT/model.tar.part-"
tar -C "$WORK" --ignore-failed-read -czf "$OUT/run.tgz" machine.txt train.log sample_speed.txt run/log.jsonl run/train_config.json \
  run/model_config.json run/previews
ls -la "$OUT"; tail -3 "$WORK/run/log.jsonl" 2>/dev/null || tail -3 "$WORK/train.log"
