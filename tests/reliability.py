"""The bad-input corpus and the kill/resume trials of [8/8], shared by tests/test_reliability.py and
scripts/reliability_report.py (which runs them as real processes and prints the figures for the README)."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import bad_files, odd_but_valid_files
from diss.outputs import TEMPORARY_GLOB

MARKER = "PICKLE_WAS_EXECUTED"
FAST = ["--steps", "2", "--quiet"]

# each: (name, argv with {f} = the corpus file, {o} = the output folder, {h} = the helpers, {m} = the model; outputs)
COMMANDS = [
    (
        "extract",
        ["extract", "{f}", "--sketch-out", "{o}/s.png", "--stroke-out", "{o}/t.png", "--size", "32", "--quiet"],
        2,
    ),
    ("generate --sketch", ["generate", "--model", "{m}", "--sketch", "{f}", "--out", "{o}/g.png", *FAST], 1),
    ("generate --stroke", ["generate", "--model", "{m}", "--stroke", "{f}", "--out", "{o}/g.png", *FAST], 1),
    (
        "generate --sketch-scale MAP",
        [
            "generate",
            "--model",
            "{m}",
            "--sketch",
            "{h}/sketch.png",
            "--sketch-scale",
            "{f}",
            "--out",
            "{o}/g.png",
            *FAST,
        ],
        1,
    ),
    (
        "edit --image",
        ["edit", "--model", "{m}", "--image", "{f}", "--mask", "{h}/mask.png", "--out", "{o}/e.png", *FAST],
        1,
    ),
    (
        "edit --mask",
        ["edit", "--model", "{m}", "--image", "{h}/photo.png", "--mask", "{f}", "--out", "{o}/e.png", *FAST],
        1,
    ),
]


# commands that load a model ({m}); {o} = an output folder, {h} = helpers, {f} = the image corpus folder
MODEL_COMMANDS = [
    ["generate", "--model", "{m}", "--sketch", "{h}/sketch.png", "--out", "{o}/g.png", *FAST],
    ["edit", "--model", "{m}", "--image", "{h}/photo.png", "--mask", "{h}/mask.png", "--out", "{o}/e.png", *FAST],
    ["demo", "--model", "{m}", "--out", "{o}/demo", *FAST],
    ["evaluate", "--model", "{m}", "--data", "{f}", "--out", "{o}/eval", "--num", "2", "--quiet"],
    ["app", "--model", "{m}", "--port", "{port}"],
]
# dials that generate must refuse with one line
BAD_DIALS = [
    *[[opt, v] for opt in ("--sketch-scale", "--stroke-scale") for v in ("nan", "inf", "-1", "1e30", "-inf")],
    *[["--realism", v] for v in ("nan", "inf", "-0.5", "2", "lots")],
    *[["--steps", v] for v in ("0", "-5", "1000000", "2.5", "")],
    ["--num", "0"],
    ["--seed", "x"],
    ["--sampler", "euler"],
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Booby:
    """Unpickling this writes a marker file: proof that nobody unpickled it."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), MARKER))


def write_image_corpus(folder: Path, rgb: np.ndarray) -> tuple[list[str], list[str]]:
    """Write every file of the corpus into ``folder``; returns (names that must work, names that must be refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    good = odd_but_valid_files(rgb)
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buf, format="PNG")
    good["one_pixel.png"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[:, : rgb.shape[1] // 3])).save(buf, format="PNG")
    good["narrow.png"] = buf.getvalue()  # a size that matches none of the other inputs
    bad = bad_files(rgb)
    bad["pickle.png"] = pickle.dumps(Booby(folder / MARKER))
    for name, data in {**good, **bad}.items():
        (folder / name).write_bytes(data)
    return sorted(good), sorted(bad)


def write_helpers(folder: Path, photos: dict[str, np.ndarray]) -> Path:
    """Good companion inputs beside a corpus file: a sketch, a half-white mask and a photo (48 px / 96 px)."""
    folder.mkdir(parents=True, exist_ok=True)
    sketch = np.full((48, 48), 255, np.uint8)
    sketch[8:40, 24] = 0
    Image.fromarray(sketch).save(folder / "sketch.png")
    mask = np.zeros((48, 48), np.uint8)
    mask[:, 24:] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    Image.fromarray(photos["coffee"]).save(folder / "photo.png")
    return folder


def make_train_cache(folder: Path, photos: dict[str, np.ndarray]) -> Path:
    """A 32 px training cache of four photos (for the kill/resume trials)."""
    from diss.data.cache import PrepareConfig, prepare

    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name, rgb in list(photos.items())[:4]:
        Image.fromarray(rgb).save(src / f"{name}.png")
    prepare(src, folder / "cache", PrepareConfig(size=32), workers=1, progress=False)
    return folder / "cache"


def write_bad_models(folder: Path, model: Path) -> dict[str, str]:
    """Broken copies of a working model folder: name → a fragment of the message that must refuse it."""
    from diss.folder import sha256_file

    def copy(name: str) -> Path:
        target = folder / name
        shutil.copytree(model, target)
        return target

    def weights(m: Path) -> Path:
        return next((m / "unet").glob("*.safetensors"))

    def plain(m: Path) -> Path:  # no diss.json: a plain diffusers folder, where the safetensors parser is the check
        (m / "diss.json").unlink(missing_ok=True)
        return m

    cases = {"missing": "does not exist"}
    m = copy("truncated")
    w = weights(m)
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    cases["truncated"] = "does not match its SHA-256"  # diss.json's sums find it first
    m = plain(copy("truncated_plain"))
    w = weights(m)
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    cases["truncated_plain"] = "damaged or foreign"
    m = copy("tampered")  # a byte of a weight changed: only the checksum can tell
    w = weights(m)
    meta = json.loads((m / "diss.json").read_text()) if (m / "diss.json").is_file() else {}
    meta["sha256"] = {w.relative_to(m).as_posix(): sha256_file(w)}
    (m / "diss.json").write_text(json.dumps(meta))
    data = bytearray(w.read_bytes())
    data[-100] ^= 0x40
    w.write_bytes(bytes(data))
    cases["tampered"] = "does not match its SHA-256"
    m = plain(copy("tampered_header"))
    w = weights(m)
    data = bytearray(w.read_bytes())
    data[8:16] = b'{"x": [1'  # the JSON header broken
    w.write_bytes(bytes(data))
    cases["tampered_header"] = "damaged or foreign"
    m = plain(copy("pickle_named_safetensors"))
    weights(m).write_bytes(pickle.dumps({"weights": Booby(folder / MARKER)}))
    cases["pickle_named_safetensors"] = "damaged or foreign"
    m = copy("pickle_only")
    weights(m).unlink()
    (m / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(Booby(folder / MARKER)))
    cases["pickle_only"] = "pickled weights are never loaded"
    m = copy("huge_config")  # would allocate a network of ~10^12 parameters before reading any weight
    cfg = json.loads((m / "unet" / "config.json").read_text())
    cfg["block_out_channels"] = [1_000_000] * len(cfg["block_out_channels"])
    (m / "unet" / "config.json").write_text(json.dumps(cfg))
    cases["huge_config"] = "block_out_channels"
    m = copy("config_not_json")
    (m / "unet" / "config.json").write_text("__import__('os').system('echo pwned')")
    cases["config_not_json"] = "not valid JSON"
    m = copy("no_scheduler")
    shutil.rmtree(m / "scheduler")
    cases["no_scheduler"] = "is missing"
    return cases


# ------------------------------------------------------------------------------------------------ kill and resume


def train_command(cache: Path, run: Path, max_steps: int, every: int) -> list[str]:
    return [
        sys.executable, "-m", "diss", "train", "--data", str(cache), "--out", str(run), "--preset", "tiny",
        "--max-steps", str(max_steps), "--batch-size", "4", "--checkpoint-every", str(every), "--log-every", "1",
        "--preview-every", "1000000", "--precision", "fp32", "--quiet",
    ]  # fmt: skip


def logged_steps(run: Path) -> list[int]:
    path = run / "log.jsonl"
    if not path.is_file():
        return []
    steps = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            pass  # a line cut by the kill
    return steps


def kill_resume_trials(cache: Path, run: Path, kills: int, seed: int, max_steps: int = 60, every: int = 5):
    """Train with SIGKILL at random moments, resuming after each; returns one dict per kill and the final exit code.

    Each kill: wait until the run has made at least one new step, then a random 0–1.5 s more, then SIGKILL. After it:
    the newest checkpoint must load, and the steps lost (logged progress − resumed step) are recorded.
    """
    from diss.errors import DissError
    from diss.train.checkpoint import list_checkpoints, load_checkpoint

    rng = np.random.default_rng(seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    trials = []
    for k in range(kills):
        ckpts = list_checkpoints(run)
        start = int(ckpts[-1].name.split("-")[1]) if ckpts else 0
        cmd = train_command(cache, run, max_steps, every) + (["--resume"] if run.exists() else [])
        seen = len(logged_steps(run))
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while len(logged_steps(run)) <= seen and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.0, 1.5)))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        new = logged_steps(run)[seen:]
        progress = max(new, default=start)
        newest = list_checkpoints(run)
        try:
            resumed = load_checkpoint(newest[-1]).step if newest else 0
            broken = False
        except DissError:
            resumed, broken = -1, True
        trials.append(
            {
                "kill": k + 1,
                "started_at": start,
                "progress": progress,
                "resumes_at": resumed,
                "lost": progress - resumed,
                "newest_broken": broken,
                "finished_before_kill": finished,
                "stray_temp_folders": len(list((run / "checkpoints").glob(TEMPORARY_GLOB))),
            }
        )
    done = subprocess.run(train_command(cache, run, max_steps, every) + ["--resume"], env=env, capture_output=True)
    return trials, done.returncode, done.stderr.decode(errors="replace")


KILL_DURING_SAVE = """
import os, signal, sys
import diss.train.checkpoint as c
real = c.save_file
def save_file(tensors, path, *a, **k):
    real(tensors, path, *a, **k)
    if "step-00000004" in str(path) and path.name == "ema.safetensors":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-save: half the EMA file written, no state.json
c.save_file = save_file
from diss.cli import main
sys.exit(main(sys.argv[1:]))
"""


def kill_during_save(cache: Path, run: Path, max_steps: int = 8, every: int = 2) -> int:
    """Run training in a child that SIGKILLs itself while writing the checkpoint of step 4; returns its exit code."""
    cmd = [sys.executable, "-c", KILL_DURING_SAVE, *train_command(cache, run, max_steps, every)[3:]]
    return subprocess.run(cmd, capture_output=True).returncode
