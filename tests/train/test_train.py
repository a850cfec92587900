"""Training: learning, stage-2 dropout, exact resume, a real 2-process run, bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import small_cache
from diss.cli import main
from diss.errors import DissError
from diss.phi import PHI_VALUE
from diss.pipeline import DiSSPipeline
from diss.train.checkpoint import list_checkpoints, load_newest
from diss.train.loop import TrainConfig, train
from diss.train.schedule import StepBatches


@pytest.fixture(scope="module")
def cache(tmp_path_factory, photos):
    return small_cache(tmp_path_factory, photos)


def config(cache, out, **kw):
    base = dict(
        data=str(cache),
        out=str(out),
        preset="tiny",
        max_steps=12,
        batch_size=4,
        lr=2e-3,
        warmup_steps=5,
        checkpoint_every=4,
        preview_every=1000,
        log_every=2,
        precision="fp32",
        preview_steps=3,
    )
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
def test_tiny_model_learns_and_exports(cache, tmp_path):
    out = tmp_path / "run"
    train(
        config(
            cache,
            out,
            max_steps=150,
            stage="1",
            augment=False,
            batch_size=8,
            log_every=15,
            checkpoint_every=150,
            preview_every=75,
        ),
        progress=False,
    )
    losses = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 10
    assert losses[0] / np.mean(losses[-2:]) > 4.0, losses  # the loss falls several-fold
    assert (out / "previews" / "step-00000075.png").is_file() and (out / "previews" / "step-00000150.png").is_file()
    grid = np.asarray(Image.open(out / "previews" / "step-00000150.png"))
    assert grid.ndim == 3 and grid.std() > 10  # photo | sketch | stroke | sample, 4 rows
    assert list((out / "logs").rglob("events.out.tfevents.*"))  # TensorBoard scalars
    model = out / "pipeline"
    index = json.loads((model / "model_index.json").read_text())
    assert index["_class_name"] == "DiSSPipeline" and index["unet"] == ["diffusers", "UNet2DModel"]
    weights = load_file(model / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(v.dtype == torch.float16 for v in weights.values())
    meta = json.loads((model / "diss.json").read_text())
    assert meta["size"] == 32 and meta["phi"] == PHI_VALUE and meta["training"]["step"] == 150
    ema = load_newest(out).ema
    assert all(torch.allclose(weights[k].float(), ema[k], atol=2e-3, rtol=1e-2) for k in ema)
    # diss export --domain names what the model draws in diss.json (the demo and the app pick its examples by it)
    assert main(["export", str(out), "--out", str(tmp_path / "m"), "--domain", "landscapes"]) == 0
    assert json.loads((tmp_path / "m" / "diss.json").read_text())["domain"] == "landscapes"
    # exported again over a folder with a card: the card and its figures are kept, the weights' record is new
    (tmp_path / "m" / "README.md").write_text("my card")
    (tmp_path / "m" / "eval").mkdir()
    (tmp_path / "m" / "eval" / "metrics.json").write_text("{}")
    assert main(["export", str(out), "--out", str(tmp_path / "m"), "--domain", "landscapes", "--steps", "7"]) == 0
    assert (tmp_path / "m" / "README.md").read_text() == "my card"
    assert (tmp_path / "m" / "eval" / "metrics.json").read_text() == "{}"
    assert json.loads((tmp_path / "m" / "diss.json").read_text())["defaults"] == {"steps": 7}
    umask = os.umask(0o022)
    os.umask(umask)
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert "domain" not in meta and "defaults" not in meta  # none unless given
    # diss export --steps sets the model's own default sampling steps (DiSSPipeline.default_steps)
    assert main(["export", str(out), "--out", str(tmp_path / "m20"), "--steps", "20"]) == 0
    assert json.loads((tmp_path / "m20" / "diss.json").read_text())["defaults"] == {"steps": 20}
    assert DiSSPipeline.from_pretrained(tmp_path / "m20").default_steps == 20
    with pytest.raises(SystemExit) as bad:
        main(["export", str(out), "--out", str(tmp_path / "m2"), "--domain", "My Cats"])
    assert bad.value.code == 2 and not (tmp_path / "m2").exists()
    for steps in ("0", "10001", "ten"):
        with pytest.raises(SystemExit) as bad:
            main(["export", str(out), "--out", str(tmp_path / "m2"), "--steps", steps])
        assert bad.value.code == 2 and not (tmp_path / "m2").exists()


def test_data_order_depends_only_on_the_step():
    full = list(StepBatches(10, 3, 1, 0, 2, seed=1, start=0, end=8))
    tail = list(StepBatches(10, 3, 1, 0, 2, seed=1, start=5, end=8))
    assert full[10:] == tail
    # two processes split each global batch between them, covering the same images as one process with accum 2
    ranks = [list(StepBatches(10, 3, 2, r, 1, seed=1, start=0, end=8)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == [full[i] + full[i + 1] for i in range(0, 16, 2)]
    seen = [v % 10 for batch in full[:6] for v in batch[:]]  # 18 positions ≥ one epoch of 10
    assert set(seen[:10]) == set(range(10))


class Crash(Exception):
    pass


def crash_at(k):
    def hook(step):
        if step == k:
            raise Crash

    return hook


def state(out):
    ckpt = load_newest(out)
    return ckpt.step, ckpt.model, ckpt.ema, ckpt.state["images_seen"]


def assert_same(a, b):
    assert a[0] == b[0] and a[3] == b[3]
    for x, y in ((a[1], b[1]), (a[2], b[2])):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.allclose(x[k], y[k], atol=1e-5, rtol=1e-4), k


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(cache, tmp_path):
    train(config(cache, tmp_path / "a"), progress=False)
    reference = state(tmp_path / "a")
    assert reference[0] == 12
    # a crash at step 7 loses steps 5-7 (last checkpoint: 4); resuming redoes them identically
    with pytest.raises(Crash):
        train(config(cache, tmp_path / "b"), progress=False, on_step=crash_at(7))
    assert load_newest(tmp_path / "b").step == 4
    train(config(cache, tmp_path / "b"), resume=True, progress=False)
    assert_same(state(tmp_path / "b"), reference)
    # Ctrl-C saves the current step before leaving
    with pytest.raises(KeyboardInterrupt):
        train(
            config(cache, tmp_path / "c"),
            progress=False,
            on_step=lambda s: (_ for _ in ()).throw(KeyboardInterrupt) if s == 6 else None,
        )
    assert load_newest(tmp_path / "c").step == 6
    train(config(cache, tmp_path / "c"), resume=True, progress=False)
    assert_same(state(tmp_path / "c"), reference)
    assert len(list_checkpoints(tmp_path / "c")) == 3  # keep the last K


@pytest.mark.slow
def test_sigterm_saves_the_current_step_like_ctrl_c(cache, tmp_path):
    """In a process of its own, as a scheduler's kill would find it (a SIGTERM sent inside the suite's long-lived
    process, after the OpenVINO, CLI and demo tests, crashed in kill() itself)."""
    from dataclasses import asdict

    code = f"""
import os, signal, sys
from diss.train.loop import TrainConfig, train
before = signal.getsignal(signal.SIGTERM)
try:
    train(TrainConfig(**{asdict(config(cache, tmp_path / "t"))!r}), progress=False,
          on_step=lambda s: os.kill(os.getpid(), signal.SIGTERM) if s == 6 else None)
except KeyboardInterrupt:
    sys.exit(42 if signal.getsignal(signal.SIGTERM) is before else 1)  # the handler is put back
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 42, done.stderr[-2000:]
    assert load_newest(tmp_path / "t").step == 6


@pytest.mark.slow
def test_time_limit_shortens_the_run_and_stops_with_a_checkpoint(cache, tmp_path):
    out = tmp_path / "timed"
    train(config(cache, out, max_steps=100_000, checkpoint_every=100_000, time_limit=0.3), progress=False)
    saved = json.loads((out / "train_config.json").read_text())
    assert 1 <= saved["max_steps"] < 100_000  # the plan was fitted to the time left
    assert load_newest(out).step == saved["max_steps"]  # the last step was saved, not lost
    assert (out / "pipeline" / "model_index.json").is_file()  # and exported
    assert TrainConfig(**saved).stage2_start() < saved["max_steps"]  # stage 2 moved with the shorter plan


DIST_SCRIPT = """
import os, sys
from safetensors.torch import save_file
from diss.train.loop import TrainConfig, train
cfg = TrainConfig(data=sys.argv[1], out=sys.argv[2], preset="tiny", max_steps=4, batch_size=2, checkpoint_every=2,
                  preview_every=100, log_every=1, precision="fp32", lr=1e-3)
model = train(cfg, progress=False)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{sys.argv[2]}/rank{os.environ['RANK']}.st")
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_distributed_run_keeps_ranks_identical(cache, tmp_path):
    out = tmp_path / "dist"
    script = tmp_path / "dist.py"
    script.write_text(DIST_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(free_port()),
            str(script),
            str(cache),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stdout
    r0, r1 = load_file(out / "rank0.st"), load_file(out / "rank1.st")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    assert load_newest(out).step == 4 and load_newest(out).state["images_seen"] == 4 * 2 * 2
    saved = load_newest(out).model
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    assert not torch.equal(saved["conv_in.weight"], torch.zeros_like(saved["conv_in.weight"]))


def test_init_fine_tunes_a_model_folder_with_loose_strokes(cache, tmp_path, tiny_model):
    from diss.train.run import _load_init

    start = _load_init(str(tiny_model))
    saved = load_file(tiny_model / "unet" / "diffusion_pytorch_model.safetensors")
    assert start.keys() == saved.keys()
    assert all(v.dtype == torch.float32 and torch.equal(v, saved[k].float()) for k, v in start.items())
    out = tmp_path / "ft"
    unet = train(config(cache, out, init=str(tiny_model), loose=0.5, stage="2", max_steps=4), progress=False)
    assert json.loads((out / "train_config.json").read_text())["loose"] == 0.5
    moved = max((p.detach().float() - start[n]).abs().max().item() for n, p in unet.named_parameters())
    assert 0 < moved < 0.1  # a fine-tune: it starts from the folder's weights and takes small steps from them
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    with open(bad / "unet" / "diffusion_pytorch_model.safetensors", "r+b") as f:
        f.truncate(100)
    with pytest.raises(DissError):
        _load_init(str(bad))  # checked before anything is read


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.slow
def test_bad_input_gives_one_clear_line(cache, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["train", "--out", tmp_path / "r", "--preset", "tiny", "--max-steps", "2", "--batch-size", "2", "--quiet"]
    cases = [
        (["--data", empty], "not a diss cache"),
        (["--data", tmp_path / "nowhere"], "does not exist"),
        (["--data", cache, "--size", "64"], "holds 32px images but --size is 64"),
        (["--data", cache, "--preset", "huge"], "unknown preset 'huge'"),
    ]
    for extra, fragment in cases:
        code, err = run_cli(capsys, *base, *extra)
        lines = err.strip().splitlines()
        assert code != 0 and len(lines) == 1 and fragment in lines[0] and "Traceback" not in err, err
    code, _ = run_cli(capsys, *base, "--data", cache)
    assert code == 0
    code, err = run_cli(capsys, *base, "--data", cache)
    assert code != 0 and "already holds a training run; pass --resume" in err
    code, err = run_cli(capsys, *base, "--data", cache, "--preset", "small", "--resume")
    assert code != 0 and "was trained with preset='tiny'" in err
    for ckpt in list_checkpoints(tmp_path / "r"):
        (ckpt / "model.safetensors").write_bytes(b"not safetensors")
    code, err = run_cli(capsys, *base, "--data", cache, "--max-steps", "4", "--resume")
    assert code == 0 and "damaged" in err  # falls back to a fresh start with a warning, never a broken checkpoint
    assert Path(tmp_path / "r" / "pipeline" / "diss.json").is_file()


@pytest.mark.slow
def test_upsampler_task_trains_on_crops_resumes_and_exports_a_cascade(cache, tmp_path):
    out = tmp_path / "up"
    cfg = dict(task="upsampler", crop=16, max_steps=8, checkpoint_every=4, preview_every=8, preview_steps=2)
    train(config(cache, out, **cfg, stage="1"), progress=False)
    assert (out / "previews" / "step-00000008.png").is_file()  # photo | low (bicubic) | sample, whole 32 px images
    assert json.loads((out / "model_config.json").read_text())["preset"] == "tiny"
    code = main(["train", "--data", str(cache), "--out", str(out), "--task", "upsampler", "--preset", "tiny",
                 "--crop", "8", "--resume", "--max-steps", "9", "--quiet"])  # fmt: skip
    assert code != 0  # a resume with another crop is refused, in one line
    pipe = DiSSPipeline.from_pretrained(out / "pipeline")  # the shipped base with this upsampler: a cascade
    pipe.set_progress_bar_config(disable=True)
    assert pipe.upsampler is not None and pipe.output_sizes == (64, 256)
    meta = json.loads((out / "pipeline" / "diss.json").read_text())
    assert meta["upsampler"]["crop"] == 16 and "upsampler/diffusion_pytorch_model.safetensors" in meta["sha256"]
    sketch = np.full((64, 64), 255, np.uint8)
    sketch[20:44, 31:33] = 0
    args = dict(num_inference_steps=2, upsampler_steps=1, generator=torch.Generator().manual_seed(0), output_type="np")
    big = pipe(sketch, None, **args).images
    args["generator"] = torch.Generator().manual_seed(0)
    small = pipe(sketch, None, output_size=64, **args).images
    assert big.shape == (1, 256, 256, 3) and small.shape == (1, 64, 64, 3)
    with pytest.raises(DissError, match="output_size must be 64 or 256"):
        pipe(sketch, None, output_size=128)
    # a cascade keeps its base's default sampling steps (the shipped landscapes': 20) unless given --steps
    assert main(["export", str(out), "--out", str(tmp_path / "c"), "--base", "landscapes"]) == 0
    assert DiSSPipeline.from_pretrained(tmp_path / "c").default_steps == 20
    assert main(["export", str(out), "--out", str(tmp_path / "c"), "--base", "landscapes", "--steps", "4"]) == 0
    assert DiSSPipeline.from_pretrained(tmp_path / "c").default_steps == 4
    cfg_path = out / "pipeline" / "upsampler" / "config.json"  # the upsampler's config is checked as the U-Net's is
    cfg_path.write_text(cfg_path.read_text().replace('"in_channels": 7', '"in_channels": 70'))
    with pytest.raises(DissError, match="upsampler/config.json: its U-Net takes 70 channels"):
        DiSSPipeline.from_pretrained(out / "pipeline")


@pytest.mark.slow
def test_a_2x_upsampler_run_exports_a_cascade_of_twice_the_base(cache, tmp_path):
    """--factor 2 (64 → 128 px, for 128 px photos): the run trains on photos shrunk 2×, and its folder says so."""
    out = tmp_path / "up2"
    train(config(cache, out, task="upsampler", crop=16, factor=2, max_steps=2, stage="1", checkpoint_every=2,
                 preview_every=2, preview_steps=1), progress=False)  # fmt: skip
    pipe = DiSSPipeline.from_pretrained(out / "pipeline")
    assert pipe.upsampler_factor == 2 and pipe.output_sizes == (64, 128)
    assert json.loads((out / "pipeline" / "diss.json").read_text())["upsampler"]["factor"] == 2
    code = main(["train", "--data", str(cache), "--out", str(out), "--task", "upsampler", "--preset", "tiny",
                 "--crop", "16", "--factor", "4", "--resume", "--max-steps", "3", "--quiet"])  # fmt: skip
    assert code != 0  # a resume with another factor is refused, in one line


@pytest.mark.slow
def test_upsampler_stage_2_replaces_the_sketch_by_phi_as_the_base_does(cache, tmp_path):
    """The upsampler learns ε(Φ) too (a cascade called without lines, and its sketch guidance): in stage 2 with
    p_uncond = 1 every sketch it trains on is Φ; in stage 1 none is."""
    seen = []

    def spy(unet, scheduler, image, sketch, g, crop, factor):
        seen.append(sketch.clone())
        return unet(torch.zeros(image.shape[0], 7, crop, crop), torch.zeros(image.shape[0], dtype=torch.long),
                    class_labels=torch.zeros(image.shape[0], dtype=torch.long)).sample.square().mean()  # fmt: skip

    with patch("diss.train.loop.upsampler_loss", spy):
        for stage in ("1", "2"):
            train(config(cache, tmp_path / stage, task="upsampler", crop=16, max_steps=2, stage=stage, p_uncond=1.0,
                         checkpoint_every=10, preview_every=10), progress=False)  # fmt: skip
    assert len(seen) == 4 and not any((s == PHI_VALUE).all() for s in seen[:2])
    assert all((s == PHI_VALUE).all() for s in seen[2:])
