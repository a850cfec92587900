#!/usr/bin/env bash
# Train a larger, many-step 64 → 256 flowers upsampler ([4/4]: photographic texture needs more training than 2 CPU
# cores give) on a lent GPU (the `device` tool), in one call, on the mended 256 px sketches (`diss prepare` there).
# Carry .whl (diffusers + importlib_metadata wheels) and .gpu/flowers-photos.tar, a plain tar of training photos as
# they are (every 6th of the card's training split, ~750 photos, ~17 MiB: what fits beside the flowers U-Net):
#   ls runs/flowers-train | awk 'NR % 6 == 1' | tar -chf .gpu/flowers-photos.tar -C runs/flowers-train -T -
# with only the flowers U-Net tracked (`bash scripts/gpu_slim.sh on pretrained/flowers`: the export needs its base);
# run `bash scripts/gpu_upsampler.sh`. What comes back under $OUT: the upsampler as a cascade's parts (upsampler/,
# upsampler_scheduler/, diss.json, model_index.json; its base is the shipped flowers one), the log, previews, and the
# example drawings through the cascade at 1, 2, 4 and 8 upsampler steps with their times. Here, the cascade folder:
#   cp -r pretrained/flowers runs/gpu-up && cat OUT/upsampler.tar.part-* | tar -xf - -C runs/gpu-up
# measured on the CPU with `python benchmarks/upsampler_ab.py VAL pretrained/flowers runs/gpu-up:4` (paired intervals).
# A CPU dry run at tiny sizes: PHOTOS=DIR PRESET=tiny CROP=32 MINUTES=0.3 BATCH=4 WORKERS=0 COMPILE= OUT=/tmp/o bash ...
set -u -o pipefail
PRESET=${PRESET-base} CROP=${CROP-128} MINUTES=${MINUTES-8} BATCH=${BATCH-64} WORKERS=${WORKERS-12}
COMPILE=${COMPILE---compile} PHOTOS=${PHOTOS-} EXTRA=${EXTRA-}
source scripts/gpu_env.sh
if [ -z "$PHOTOS" ]; then
  mkdir -p "$WORK/photos" && tar -xf .gpu/flowers-photos.tar -C "$WORK/photos" || exit 1
  PHOTOS="$WORK/photos"
fi
python3 -m diss prepare "$PHOTOS" "$WORK/cache" --size 256 --workers "$(nproc)" --quiet 2>&1 | tee "$WORK/train.log" \
  || exit 1
# SIGTERM (timeout) makes diss save a checkpoint; the export below then still runs
timeout -s TERM "$(python3 -c "print(int(float('$MINUTES') * 60 + 60))")" \
  python3 -m diss train --task upsampler --base pretrained/flowers --data "$WORK/cache" --out "$WORK/run" \
  --preset "$PRESET" --crop "$CROP" $COMPILE --batch-size "$BATCH" --lr 3e-4 --lr-schedule cosine --warmup-steps 200 \
  --ema-decay 0.9995 --max-steps 1000000 --time-limit "$MINUTES" --workers "$WORKERS" --checkpoint-every 2000 \
  --keep-checkpoints 2 --preview-every 2000 --log-every 100 --quiet $EXTRA 2>&1 | tee -a "$WORK/train.log"
python3 -m diss export "$WORK/run" --out "$WORK/model" --base pretrained/flowers 2>&1 | tee -a "$WORK/train.log"
# the example flower drawings through the cascade: the base's image once, the upsampler at 1, 2, 4 and 8 steps
python3 - "$WORK/model" "$OUT/steps.png" 2>&1 <<'PY' | tee "$WORK/steps.txt"
import sys, time, torch
from pathlib import Path
from diss.conventions import from_model
from diss.data.images import load_image
from diss.grid import save_grid
from diss.pipeline import DiSSPipeline
from diss.runtime import seeded
dev = "cuda" if torch.cuda.is_available() else "cpu"
pipe = DiSSPipeline.from_pretrained(sys.argv[1]).to(dev)
pipe.set_progress_bar_config(disable=True)
names = ["daisy", "poppy", "sunflower", "pink"]
sketches = [load_image(f"examples/{n}-sketch.png") for n in names]
strokes = [load_image(f"examples/{n}-stroke.png") for n in names]
rows = [[] for _ in names]
with torch.inference_mode():
    x0 = pipe(sketches, strokes, num_images=len(names), generator=seeded(range(len(names))), output_size=pipe.size,
              output_type="latent").images
    for steps in (1, 2, 4, 8):
        for _ in range(2):  # the second is timed
            if dev == "cuda": torch.cuda.synchronize()
            t = time.perf_counter()
            up = pipe.upsample(x0, sketches, steps=steps, generator=seeded(range(len(names))))
            if dev == "cuda": torch.cuda.synchronize()
        print(f"{dev}: {steps} upsampler step(s): {(time.perf_counter() - t) / len(names):.3f} s per image")
        for row, image in zip(rows, from_model(up)):
            row.append(image)
save_grid(sys.argv[2], rows, col_labels=["1 step", "2 steps", "4 steps", "8 steps"])
PY
# bring back: the upsampler's parts of the cascade folder (in 15 MiB parts), and the run's log, config, previews
tar -C "$WORK/model" -cf "$WORK/upsampler.tar" upsampler upsampler_scheduler diss.json model_index.json && \
  split -b 15M -d "$WORK/upsampler.tar" "$OUT/upsampler.tar.part-"
tar -C "$WORK" --ignore-failed-read -czf "$OUT/run.tgz" machine.txt train.log steps.txt run/log.jsonl \
  run/train_config.json run/model_config.json run/previews
ls -la "$OUT"; tail -3 "$WORK/run/log.jsonl" 2>/dev/null || tail -3 "$WORK/train.log"
