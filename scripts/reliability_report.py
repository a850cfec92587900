"""The figures of the README's reliability section: the bad-input corpus of tests/reliability.py through every CLI
command as real processes (exit code, stderr, files left behind), the Python API on the same inputs, broken and
malicious model folders, out-of-range dials, and SIGKILL/resume trials of training.

    python scripts/reliability_report.py [--kills 20] [--seed 0]

A *crash* is a process killed by a signal, an exit code other than 0/1/2, a timeout, "unexpected error" (diss' catch-all
for bugs) or an exception other than diss' own from the API; a *traceback* is "Traceback" anywhere in stderr.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import sample_photos  # noqa: E402
from reliability import (  # noqa: E402
    BAD_DIALS,
    COMMANDS,
    FAST,
    MARKER,
    MODEL_COMMANDS,
    free_port,
    kill_during_save,
    kill_resume_trials,
    make_train_cache,
    write_bad_models,
    write_helpers,
    write_image_corpus,
)


class Tally:
    def __init__(self):
        self.counts: Counter = Counter()
        self.notes: list[str] = []

    def cli(self, group: str, argv: list, expect_ok: bool, out: Path | None = None, outputs: int | None = None):
        try:
            p = subprocess.run([sys.executable, "-m", "diss", *map(str, argv)], capture_output=True, timeout=600)
            code, err = p.returncode, p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            code, err = None, "timeout"
        self.counts[(group, "runs")] += 1
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
        left = sorted(q.name for q in out.rglob("*")) if out is not None and out.exists() else []
        if code is None or code < 0 or code not in (0, 1, 2) or "unexpected error" in err:
            self.counts[(group, "crashes")] += 1
            self.notes.append(f"CRASH {group}: {argv} -> {code}: {err[-300:]}")
        if "Traceback" in err:
            self.counts[(group, "tracebacks")] += 1
            self.notes.append(f"TRACEBACK {group}: {argv}")
        if expect_ok:
            good = code == 0 and (outputs is None or len(left) == outputs)
            self.counts[(group, "made as expected" if good else "failed where it should work")] += 1
            if not good:
                self.notes.append(f"FAILED {group}: {argv} -> {code}, {left}: {err[-300:]}")
        else:
            one_line = code not in (0, None) and len(lines) == 1
            self.counts[(group, "refused in one line" if one_line else "refused badly")] += 1
            if left:
                self.counts[(group, "partial outputs")] += 1
            if not one_line or left:
                self.notes.append(f"BAD REFUSAL {group}: {argv} -> {code}, left {left}: {err[-300:]}")

    def api(self, group: str, fn, expect_ok: bool):
        from diss.errors import DissError

        self.counts[(group, "runs")] += 1
        try:
            fn()
            ok = True
        except DissError:  # ImageLoadError is a ValueError, counted below
            ok = False
        except ValueError as e:
            if type(e).__name__ != "ImageLoadError":
                raise
            ok = False
        except Exception as e:  # noqa: BLE001 - exactly what this counts
            self.counts[(group, "crashes")] += 1
            self.notes.append(f"CRASH {group}: {type(e).__name__}: {e}")
            return
        key = ("made as expected" if ok else "failed where it should work") if expect_ok else (
            "refused in one line" if not ok else "accepted bad input")  # fmt: skip
        self.counts[(group, key)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of one training run (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from diss.data.images import load_image
    from diss.diffusion import make_scheduler
    from diss.model import build_unet, preset
    from diss.pipeline import DiSSPipeline

    work = Path(tempfile.mkdtemp(prefix="diss-reliability-"))
    photos = sample_photos()
    corpus = work / "corpus"
    good, bad = write_image_corpus(corpus, photos["astronaut"])
    helpers = write_helpers(work / "helpers", photos)
    torch.manual_seed(0)
    model = work / "tiny-model"
    DiSSPipeline(unet=build_unet(preset("tiny"), 32), scheduler=make_scheduler()).save_pretrained(model)
    t = Tally()
    print(f"corpus: {len(good)} files that must work ({', '.join(good)}), {len(bad)} that must be refused "
          f"({', '.join(bad)}); work folder {work}")  # fmt: skip

    for name, argv, outputs in COMMANDS:  # every file through every command that takes a file
        for i, file in enumerate(good + bad):
            out = work / "out" / f"{name.replace(' ', '_')}-{i}"
            out.mkdir(parents=True)
            cmd = [a.format(f=corpus / file, o=out, h=helpers, m=model) for a in argv]
            t.cli("image files x commands", cmd, file in good, out, outputs)
    for sub in ("a", "b"):
        shutil.copytree(corpus, work / sub, ignore=shutil.ignore_patterns(MARKER))
    for argv in (
        ["prepare", corpus, work / "cache", "--size", "32", "--workers", "1", "--quiet"],
        ["extract", corpus, "--sketch-out", work / "sk", "--stroke-out", work / "st", "--size", "32", "--quiet"],
        ["generate", "--model", model, "--sketch", work / "a", "--stroke", work / "b", "--out", work / "gen", *FAST],
        ["evaluate", "--model", model, "--data", corpus, "--out", work / "eval", "--num", "3", "--steps", "2",
         "--studies", "base", "--quiet"],
    ):  # fmt: skip
        t.cli("the corpus as a folder", argv, True)

    pipe = DiSSPipeline.from_pretrained(model)
    kw = dict(num_inference_steps=2, progress=False, output_type="np")
    for file in good + bad:
        path = corpus / file
        t.api("Python API", lambda p=path: load_image(p), file in good)
        for call in (
            dict(sketch=path),
            dict(stroke=path),
            dict(sketch=helpers / "sketch.png", image=path, mask=helpers / "mask.png"),
            dict(image=helpers / "photo.png", mask=path),
        ):
            t.api("Python API", lambda c=call: pipe(**c, **kw), file in good)
    for value in (np.full((8, 8, 3), np.nan), np.zeros((5,)), np.zeros((8, 8, 2)), np.zeros((0, 4, 3))):
        t.api("Python API", lambda v=value: pipe(sketch=v, **kw), False)
    for dial in ("sketch_guidance_scale", "stroke_guidance_scale", "realism"):
        for v in (float("nan"), float("inf"), -1.0, 1e30):
            call = dict(sketch=helpers / "sketch.png", stroke=helpers / "sketch.png", **{dial: v})
            t.api("Python API", lambda c=call: pipe(**c, **kw), False)
    for steps in (0, -5, 10**6):
        t.api("Python API", lambda s=steps: pipe(helpers / "sketch.png", **{**kw, "num_inference_steps": s}), False)

    models = work / "models"
    models.mkdir()
    cases = write_bad_models(models, model)
    for case in cases:
        t.api("model folders", lambda c=case: DiSSPipeline.from_pretrained(models / c), False)
        for argv in MODEL_COMMANDS:
            out = work / "out" / f"model-{case}-{argv[0]}"
            out.mkdir(parents=True)
            cmd = [a.format(m=models / case, o=out, h=helpers, f=corpus, port=free_port()) for a in argv]
            t.cli("model folders", cmd, False, out)
    for extra in BAD_DIALS:
        out = work / "out" / f"dial-{len(t.notes)}-{t.counts[('dials', 'runs')]}"
        out.mkdir(parents=True)
        argv = ["generate", "--model", model, "--sketch", helpers / "sketch.png", "--out", out / "x.png", "--quiet"]
        t.cli("dials", [*argv, *extra], False, out)

    pickles = sorted(p for p in work.rglob(MARKER))
    groups = sorted({g for g, _ in t.counts})
    print("\n| inputs | runs | as expected | crashes | tracebacks | partial outputs |")
    print("| --- | --- | --- | --- | --- | --- |")
    for g in groups:
        c = {k: v for (gg, k), v in t.counts.items() if gg == g}
        expected = c.get("made as expected", 0) + c.get("refused in one line", 0)
        print(f"| {g} | {c.get('runs', 0)} | {expected} | {c.get('crashes', 0)} | {c.get('tracebacks', 0)} | "
              f"{c.get('partial outputs', 0)} |")  # fmt: skip
    print(f"pickles executed: {len(pickles)}")
    for note in t.notes:
        print(note)

    cache = make_train_cache(work / "kill", photos)
    code = kill_during_save(cache, work / "run-save")
    from diss.train.checkpoint import load_newest

    resumable = load_newest(work / "run-save").step
    print(f"\nkilled in the middle of saving step 4: exit {code}, resumable from step {resumable}")
    max_steps = 12 * args.kills
    trials, code, err = kill_resume_trials(cache, work / "run-kill", args.kills, args.seed, max_steps, every=5)
    lost = [tr["lost"] for tr in trials]
    print(f"{args.kills} SIGKILLs of one run ({max_steps} steps, checkpoint every 5): steps lost per kill "
          f"min {min(lost)} / median {int(np.median(lost))} / max {max(lost)}; newest checkpoint broken after "
          f"{sum(tr['newest_broken'] for tr in trials)} kills; final resume exit {code}, "
          f"reached step {load_newest(work / 'run-kill').step}")  # fmt: skip
    for tr in trials:
        print("  ", tr)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
