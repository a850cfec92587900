#!/usr/bin/env bash
# What a lent GPU machine is sent (the `device` tool) is the working tree git shows (tracked files and untracked ones
# it does not ignore) plus the carried paths, 64 MiB in all. The three shipped 64 px U-Nets (3 × 31.7 MB) alone fill
# it, so a packed cache (~45 MiB) and the wheels (~6 MiB) can only travel beside the rest without them; training from
# scratch (scripts/gpu_train_flowers.sh) needs none, a distillation (scripts/gpu_distill.sh) its teacher's alone.
#   bash scripts/gpu_slim.sh on [KEEP]  # untrack them for the call (`git rm --cached`, ignored in .git/info/exclude),
#                                       # all but the U-Net under KEEP (e.g. pretrained/flowers)
#   bash scripts/gpu_slim.sh size   # what would travel, with .whl and .gpu carried
#   bash scripts/gpu_slim.sh off    # track them again (the files never leave the disk); do this before any commit
set -eu -o pipefail
cd "$(git rev-parse --show-toplevel)"
BLOBS=()
for f in pretrained/*/unet/diffusion_pytorch_model*.safetensors; do
  case "$f" in "${2:-/none}"/*) ;; *) BLOBS+=("$f") ;; esac
done
EXCLUDE=.git/info/exclude
case "${1-}" in
  on)
    mkdir -p .git/info && touch "$EXCLUDE"
    for f in "${BLOBS[@]}"; do
      git rm -q --cached --ignore-unmatch -- "$f"
      grep -qxF "/$f" "$EXCLUDE" || echo "/$f" >>"$EXCLUDE"  # untracked and ignored: it stays here
    done
    echo "slim: the shipped U-Nets are untracked; run 'bash scripts/gpu_slim.sh off' before committing"
    bash "$0" size ;;
  off)
    git reset -q -- "${BLOBS[@]}"
    if [ -f "$EXCLUDE" ]; then
      for f in "${BLOBS[@]}"; do grep -vxF "/$f" "$EXCLUDE" >"$EXCLUDE.new" || true; mv "$EXCLUDE.new" "$EXCLUDE"; done
    fi
    git diff --quiet --cached -- "${BLOBS[@]}" && echo "slim off: the shipped U-Nets are tracked again" ;;
  size)
    { git ls-files -z --cached --others --exclude-standard; find .whl .gpu -type f -print0 2>/dev/null; } |
      xargs -0 du -cb 2>/dev/null | tail -1 | awk '{printf "would travel: %.1f MiB (limit 64 MiB)\n", $1 / 1048576}' ;;
  *) echo "usage: bash scripts/gpu_slim.sh on|off|size" >&2; exit 2 ;;
esac
