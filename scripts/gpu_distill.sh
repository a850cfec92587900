#!/usr/bin/env bash
# Distil a shipped model's student ([3/4]: diss.student, `diss train --task student`) on a lent GPU (the `device`
# tool), in one call. Carry .whl (diffusers + importlib_metadata wheels) and .gpu/$DOMAIN-64.tar (the domain's 64 px
# training cache, `python scripts/pack_cache.py pack CACHE .gpu/$DOMAIN-64.tar`), with only the teacher's U-Net
# tracked (`bash scripts/gpu_slim.sh on pretrained/$DOMAIN`: the others stay behind); run `bash scripts/gpu_distill.sh`.
# What comes back under $OUT: the student's weights and its diss.json record (the teacher stays as shipped: copy
# student/ and the "student" entries into pretrained/$DOMAIN, or re-export the run here), the log, previews, speed.
# A CPU dry run at tiny sizes: CACHE=runs/cache-64 MINUTES=0.5 BATCH=4 WORKERS=0 COMPILE= OUT=/tmp/o bash scripts/...
set -u -o pipefail
DOMAIN=${DOMAIN-flowers} TEACHER=${TEACHER-pretrained/${DOMAIN-flowers}} MINUTES=${MINUTES-8} BATCH=${BATCH-128}
WORKERS=${WORKERS-12} COMPILE=${COMPILE---compile} CACHE=${CACHE-} EXTRA=${EXTRA-}
source scripts/gpu_env.sh
if [ -z "$CACHE" ]; then
  python3 scripts/pack_cache.py unpack ".gpu/$DOMAIN-64.tar" "$WORK/cache" || exit 1
  CACHE="$WORK/cache"
fi
# SIGTERM (timeout) makes diss save a checkpoint; the export below then still runs
timeout -s TERM "$(python3 -c "print(int(float('$MINUTES') * 60 + 60))")" \
  python3 -m diss train --task student --teacher "$TEACHER" --data "$CACHE" --out "$WORK/run" $COMPILE \
  --batch-size "$BATCH" --lr 1e-4 --lr-schedule cosine --warmup-steps 100 --ema-decay 0.999 --max-steps 1000000 \
  --time-limit "$MINUTES" --workers "$WORKERS" --checkpoint-every 1000 --keep-checkpoints 2 --preview-every 1000 \
  --log-every 50 --quiet $EXTRA 2>&1 | tee "$WORK/train.log"
python3 -m diss export "$WORK/run" --out "$WORK/model" --domain "$DOMAIN" 2>&1 | tee -a "$WORK/train.log"
# one image at batch 1 on this device: the teacher's default beside the student's default and its one-step preview
python3 - "$WORK/model" 2>&1 <<'PY' | tee "$WORK/sample_speed.txt"
import sys, time, torch
from diss.pipeline import DiSSPipeline
dev = "cuda" if torch.cuda.is_available() else "cpu"
pipe = DiSSPipeline.from_pretrained(sys.argv[1]).to(dev)
pipe.set_progress_bar_config(disable=True)
sk = torch.full((64, 64), 255, dtype=torch.uint8).numpy(); sk[20:44, 32] = 0
st = torch.full((64, 64, 3), 255, dtype=torch.uint8).numpy(); st[16:48, 16:48] = (200, 40, 60)
for name, kw in (("teacher, its defaults", {}), ("student, 4 steps", {"fast": True}),
                 ("student, 1 step (preview)", {"fast": True, "num_inference_steps": 1})):
    for _ in range(2):  # the second is timed
        if dev == "cuda": torch.cuda.synchronize()
        t = time.perf_counter()
        pipe(sk, st, output_type="np", generator=torch.Generator().manual_seed(0), **kw)
        if dev == "cuda": torch.cuda.synchronize()
    print(f"{dev}: {name}: {time.perf_counter() - t:.3f} s per image")
PY
# bring back: the student alone (≤ 32 MB, in 15 MiB parts), its record, and the run's log, config and previews
tar -C "$WORK/model" -cf "$WORK/student.tar" student diss.json model_index.json && \
  split -b 15M -d "$WORK/student.tar" "$OUT/student.tar.part-"
tar -C "$WORK" --ignore-failed-read -czf "$OUT/run.tgz" machine.txt train.log sample_speed.txt run/log.jsonl \
  run/train_config.json run/model_config.json run/previews
ls -la "$OUT"; tail -3 "$WORK/run/log.jsonl" 2>/dev/null || tail -3 "$WORK/train.log"
