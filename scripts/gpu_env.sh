# Sourced by the scripts/gpu_*.sh scripts on a lent GPU machine: installs the carried wheels (.whl/: diffusers and
# importlib_metadata, which that machine lacks) into a private folder, puts src/ on the path, and records the machine.
: "${OUT:?set OUT to a folder for the results}"
WORK=${WORK-/tmp/diss-gpu}
rm -rf "$WORK" && mkdir -p "$WORK"
if ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl \
    || exit 1
  export PYTHONPATH="$WORK/site"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; python3 -c \
  "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)") 2>&1 | tee "$WORK/machine.txt"
