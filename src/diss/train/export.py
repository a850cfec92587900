"""``diss export``: the EMA weights of a run's newest checkpoint → a model folder DiSSPipeline.from_pretrained loads
(an upsampler run's: a cascade folder, the base model with the upsampler added)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import torch

from diss import defaults
from diss.diffusion import make_scheduler
from diss.errors import DissError
from diss.model import ModelConfig, build_unet
from diss.outputs import replacing
from diss.phi import PHI_VALUE
from diss.train.checkpoint import load_newest
from diss.train.config import TrainConfig

log = logging.getLogger(__name__)


def export_pipeline(
    run: str | os.PathLike,
    out: str | os.PathLike,
    dtype: torch.dtype = torch.float16,
    base: str | None = None,
    domain: str | None = None,
    steps: int | None = None,
    fast_default: bool = False,
) -> Path:
    """EMA weights of the newest checkpoint → a DiSSPipeline folder (model_index.json, unet/, scheduler/, diss.json).
    An upsampler run's folder is a cascade: ``base`` (a shipped model's name or a folder; default the run's --base,
    else flowers) with this upsampler added. ``domain`` (what it draws, diss.domains) goes into diss.json; a cascade
    keeps its base's unless given, as it keeps its base's sampling steps unless ``steps`` is given (the folder's
    default, ``DiSSPipeline.default_steps``). A student run's folder is its teacher's (``base``: default the run's
    --teacher) with the student added, run by default where ``fast_default``."""
    import diffusers

    run, out = Path(run), Path(out)
    ckpt = load_newest(run)
    if ckpt is None:
        raise DissError(f"{run} holds no complete checkpoint to export")
    try:
        train_config = json.loads((run / "train_config.json").read_text(encoding="utf-8"))
        model_json = ckpt.state["model_config"]
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise DissError(f"{run} is not a complete diss training run ({e})") from None
    diffusers.utils.logging.set_verbosity_error()  # a note about dtype casting that does not apply to a plain U-Net
    record = {"step": ckpt.step, "images_seen": ckpt.state.get("images_seen")}
    if train_config.get("task", "base") == "upsampler":  # no conditions dropped: no stages
        return _save_folder(_cascade(ckpt, model_json, train_config, record, base), out, dtype, domain, steps)
    if train_config.get("task") == "student":
        pipe = _with_student(ckpt, train_config, record, base)
        pipe.diss_meta["student"]["default"] = fast_default
        return _save_folder(pipe, out, dtype, domain, steps)
    record |= {
        "stage": train_config.get("stage"),
        "p_uncond": train_config.get("p_uncond"),
        "stage2_start": TrainConfig(
            **{k: v for k, v in train_config.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
        ).stage2_start(),
    }
    return _save_folder(_base_pipeline(ckpt, model_json, train_config, record), out, dtype, domain, steps)


def _base_pipeline(ckpt, model_json: dict, train_config: dict, record: dict):
    from diss.pipeline import DiSSPipeline
    from diss.schedulers import make_sampler

    model_config = ModelConfig.from_json(model_json)
    unet = build_unet(model_config, int(train_config["size"]))
    unet.load_state_dict(ckpt.ema)
    training = make_scheduler(train_config.get("beta_schedule", "linear"), model_config.learned_variance)
    scheduler = make_sampler(defaults.SAMPLER, training.config)  # the folder holds the scheduler that steps
    pipe = DiSSPipeline(unet=unet, scheduler=scheduler)
    pipe.diss_meta = {
        "size": int(train_config["size"]),
        "phi": PHI_VALUE,
        "model": model_config.to_json(),
        "beta_schedule": train_config.get("beta_schedule", "linear"),
        "training": record,
    }
    return pipe


def _cascade(ckpt, model_json: dict, train_config: dict, record: dict, base: str | None):
    """The base model folder's pipeline with the run's upsampler (EMA weights) and its training schedule added."""
    from diss.folder import resolve_model
    from diss.pipeline import DiSSPipeline
    from diss.upsampler import UpsamplerConfig, build_upsampler, make_upsampler_scheduler

    config = UpsamplerConfig.from_json(model_json)
    upsampler = build_upsampler(config, int(train_config.get("crop", defaults.UPSAMPLER_CROP)))
    upsampler.load_state_dict(ckpt.ema)
    pipe = DiSSPipeline.from_pretrained(resolve_model(base or train_config.get("base")))
    factor, side = int(train_config.get("factor", defaults.UPSAMPLER_FACTOR)), int(train_config["size"])
    if side != pipe.size * factor:  # it learned to enlarge side/factor px images: another base's are of another scale
        log.warning(f"note: the upsampler learned to enlarge {side // factor} px images {factor}× ({side} px photos); "
                    f"the base makes {pipe.size} px images, so the cascade gives {pipe.size * factor} px (for its "
                    f"own scale, train the upsampler on a {pipe.size * factor} px cache)")  # fmt: skip
    scheduler = make_upsampler_scheduler(train_config.get("beta_schedule", "linear"))  # its training schedule
    pipe.register_modules(upsampler=upsampler, upsampler_scheduler=scheduler)
    pipe.diss_meta["upsampler"] = {"model": config.to_json(), "crop": train_config.get("crop"), "factor": factor,
                                   "trained_at": side, "training": record}  # fmt: skip
    return pipe


def _with_student(ckpt, train_config: dict, record: dict, teacher: str | None):
    """The teacher's model folder's pipeline with the run's student (EMA weights) added, and what it was distilled
    for in diss.json: its step counts and the scales' range (``folder.finish_folder`` adds its teacher's sums)."""
    from diss.folder import resolve_model
    from diss.pipeline import DiSSPipeline
    from diss.student import student_from_teacher
    from diss.train.distill import check_same_teacher

    folder = resolve_model(teacher or train_config.get("teacher"))
    check_same_teacher(ckpt.state, str(folder), "this run was")
    pipe = DiSSPipeline.from_pretrained(folder)
    student = student_from_teacher(pipe.unet)
    student.load_state_dict(ckpt.ema)
    pipe.register_modules(student=student)
    pipe.diss_meta["student"] = {
        "steps": list(defaults.STUDENT_STEP_COUNTS),
        "default_steps": defaults.STUDENT_STEPS,
        "scale_max": defaults.STUDENT_SCALE_MAX,
        "teacher_substeps": defaults.STUDENT_TEACHER_SUBSTEPS,
        "prediction": "v",
        "training": record,
    }
    return pipe


def _save_folder(pipe, out: Path, dtype: torch.dtype, domain: str | None, steps: int | None = None) -> Path:
    """``pipe`` in ``dtype``, its ``domain`` and default sampling ``steps`` (if given) in diss.json, saved into a
    temporary folder, then renamed to ``out``: never a half-written model."""

    from diss.folder import model_steps

    pipe = pipe.to(dtype=dtype)
    if domain:
        pipe.diss_meta["domain"] = domain
    if steps is not None:
        pipe.diss_meta["defaults"] = {"steps": steps}
        model_steps(pipe.diss_meta, "--steps")  # refused before anything is written

    try:
        with replacing(out) as tmp:
            tmp.mkdir(parents=True)
            pipe.save_pretrained(tmp)  # with diss.json: the record and the weights' sums, checked on every load
            _keep_card(out, tmp)
    except OSError as e:
        raise DissError(f"could not export the model to {out} ({e.strerror or e})") from None
    return out


#: what a person wrote in a model folder, beside the weights export writes: kept when the folder is exported again
CARD_FILES = ("README.md", "eval")


def _keep_card(old: Path, new: Path) -> None:
    """Copy the model card and its figures (``CARD_FILES``) of the folder an export replaces into the new one, and say
    so once: nothing a person wrote is lost, and the card now describes other weights until it is updated."""
    kept = [name for name in CARD_FILES if (old / name).exists() and not (new / name).exists()]
    for name in kept:
        (shutil.copytree if (old / name).is_dir() else shutil.copy2)(old / name, new / name)
    if kept:
        log.warning("kept %s of %s: update them for the new weights", " and ".join(kept), old)
