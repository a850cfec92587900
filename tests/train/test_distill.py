"""diss train --task student: the distillation's targets, a tiny run that resumes exactly and exports the student into
its teacher's folder, and bad input."""

import json

import pytest
import torch

from conftest import small_cache
from diss import defaults
from diss.cli import main
from diss.diffusion import make_scheduler
from diss.errors import DissError
from diss.folder import sha256_file
from diss.guidance import two_condition_guidance
from diss.pipeline import DiSSPipeline
from diss.sampling import sample
from diss.student import make_student_sampler
from diss.train.checkpoint import load_newest
from diss.train.distill import Teacher, guided_spans, teacher_lands
from diss.train.loop import TrainConfig, train


@pytest.fixture(scope="module")
def cache(tmp_path_factory, photos):
    return small_cache(tmp_path_factory, photos)


def config(cache, out, teacher, **kw):
    base = dict(data=str(cache), out=str(out), task="student", teacher=str(teacher), max_steps=6, batch_size=2,
                lr=1e-3, warmup_steps=2, checkpoint_every=3, preview_every=6, log_every=2)  # fmt: skip
    base["precision"] = "fp32"
    return TrainConfig(**{**base, **kw})


@torch.no_grad()
def test_the_teacher_lands_where_its_own_ddim_takes_it(tiny_model, monkeypatch):
    """From t = 999 to the clean end in 4 substeps: where diffusers' DDIM takes it over the same points (999, 749,
    499, 249: its trailing grid), guided on the substeps whose middle the teacher's sampler guides, x̂₀ clipped."""
    monkeypatch.setattr(defaults, "STUDENT_TEACHER_SUBSTEPS", 4)
    pipe = DiSSPipeline.from_pretrained(tiny_model)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=g)
    sk, st = torch.rand(2, 1, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    scales = torch.tensor([0.5, 2.0])
    teacher = Teacher(pipe.unet, [(300, 500)])  # it guides in (300, 500]: the substep 499 → 249 (its middle, 374)
    landed = teacher_lands(teacher, make_scheduler().alphas_cumprod, x, 999, -1, sk, st, scales, 1.5)
    denoiser = two_condition_guidance(pipe.unet, sk, st, scales, 1.5, guided=lambda t: int(t) == 499)
    expected = sample(denoiser, make_student_sampler(pipe.scheduler.config), x, 4)
    torch.testing.assert_close(landed.clamp(-1, 1), expected, atol=2e-4, rtol=1e-4)


@pytest.mark.slow
def test_a_student_run_resumes_exactly_and_exports_into_its_teachers_folder(cache, tmp_path, tiny_model):
    train(config(cache, tmp_path / "a", tiny_model), progress=False)
    reference = load_newest(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C at step 4 saves it; resuming redoes nothing twice
        train(config(cache, tmp_path / "b", tiny_model), progress=False,
              on_step=lambda s: (_ for _ in ()).throw(KeyboardInterrupt) if s == 4 else None)  # fmt: skip
    train(config(cache, tmp_path / "b", tiny_model), resume=True, progress=False)
    resumed = load_newest(tmp_path / "b")
    assert resumed.step == reference.step == 6
    for k in reference.ema:
        torch.testing.assert_close(resumed.ema[k], reference.ema[k], atol=1e-5, rtol=1e-4)
    assert (tmp_path / "a" / "previews" / "step-00000006.png").is_file()
    records = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert all(any(k.startswith("loss_k") for k in r) for r in records)
    folder = tmp_path / "a" / "pipeline"  # the teacher's folder with its student added
    pipe = DiSSPipeline.from_pretrained(folder)
    assert pipe.student is not None and pipe.student.config.in_channels == 10
    meta = json.loads((folder / "diss.json").read_text())
    unet = next((folder / "unet").glob("*.safetensors"))
    assert meta["student"]["teacher_sha256"] == {f"unet/{unet.name}": sha256_file(unet)}
    assert meta["student"]["steps"] == list(defaults.STUDENT_STEP_COUNTS) and meta["student"]["prediction"] == "v"
    teacher = DiSSPipeline.from_pretrained(tiny_model)
    for name, p in teacher.unet.state_dict().items():  # the teacher is shipped as it was (in fp16, as exported)
        torch.testing.assert_close(pipe.unet.state_dict()[name], p.half().float())


@pytest.mark.slow
def test_a_student_is_exported_only_with_its_own_teacher_and_may_be_the_default(cache, tmp_path, tiny_model, capsys):
    import shutil

    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_model, teacher)
    train(config(cache, tmp_path / "r", teacher, max_steps=2, preview_every=100), progress=False)
    assert main(["export", str(tmp_path / "r"), "--out", str(tmp_path / "m"), "--fast-default"]) == 0
    pipe = DiSSPipeline.from_pretrained(tmp_path / "m")
    pipe.set_progress_bar_config(disable=True)
    calls = []
    pipe.student.register_forward_pre_hook(lambda m, a: calls.append(1))
    pipe(None, None, output_type="np")  # the folder's choice: its student, at its default steps
    assert len(calls) == defaults.STUDENT_STEPS
    other = DiSSPipeline.from_pretrained(teacher)  # the teacher re-trained: the run no longer matches it
    with torch.no_grad():
        other.unet.conv_in.bias += 0.01
    other.save_pretrained(teacher)
    capsys.readouterr()
    assert main(["export", str(tmp_path / "r"), "--out", str(tmp_path / "m2")]) != 0
    assert "distilled from other weights" in capsys.readouterr().err and not (tmp_path / "m2").exists()
    with pytest.raises(DissError, match="distilled from other weights"):
        train(config(cache, tmp_path / "r", teacher, max_steps=4, preview_every=100), resume=True, progress=False)


def test_the_teacher_guides_where_its_own_sampler_does():
    """DDIM 10 (leading: 900, 800, … 0) guides steps 3–7 of 10 at the defaults' interval (0.3–0.8): t = 600 … 200."""
    spans = guided_spans(make_scheduler().config, 10)
    assert spans == [(500, 600), (400, 500), (300, 400), (200, 300), (100, 200)]
    teacher = Teacher(None, spans)
    assert teacher.guides(600, 500) and teacher.guides(249, 166) and not teacher.guides(749, 666)
    assert not teacher.guides(83, -1) and len(guided_spans(make_scheduler().config, 20)) == 10


def test_a_student_needs_a_teacher_of_its_caches_size(cache, tmp_path, tiny_model, capsys):
    code = main(["train", "--task", "student", "--data", str(cache), "--out", str(tmp_path / "r"), "--teacher",
                 str(tmp_path / "nowhere"), "--quiet"])  # fmt: skip
    assert code != 0 and "does not exist" in capsys.readouterr().err
    with pytest.raises(DissError, match="distil it on a 64 px cache, not 32 px"):
        train(config(cache, tmp_path / "r2", "flowers"), progress=False)
