"""The app's quick preview: one step of the model's distilled student (``diss.student``) where it has one, else a few
DDIM steps of the base model, after each stroke, with Generate's seed and dials, as a job that never holds up a
Generate, sweep or edit (``DissApp.preview`` runs it, keeps the last few and is cancelled by a newer stroke)."""

from __future__ import annotations

import numpy as np

from diss.app.worker import Stopped
from diss.conventions import to_uint8

# quick preview: DDIM steps after each stroke, each one guided U-Net forward at batch 3 on the base model; 1 step is
# still noise with this schedule, 2 show the picture (times per CPU kind: BENCHMARKS.md)
PREVIEW_STEPS = 2
# the student's preview: one U-Net call, a picture (its x̂₀ is usable at t = T, an ε-predictor's is not)
PREVIEW_FAST_STEPS = 1
PREVIEW_SAMPLER = "ddim"  # deterministic: a preview changes only when the drawing or a dial does
PREVIEW_SIDE = 256  # the preview is upscaled to this side for display
PREVIEWS_KEPT = 16


def pipe_dials(sketch_scale, stroke_scale, realism_on, realism, sampler: str, steps: int) -> dict:
    """The page's dials as the pipeline's keyword arguments (realism switched off: None)."""
    return {
        "sketch_guidance_scale": float(sketch_scale),
        "stroke_guidance_scale": float(stroke_scale),
        "realism": float(realism) if realism_on else None,
        "sampler": sampler,
        "num_inference_steps": int(steps),
    }


def preview_dials(pipe, kw: dict) -> dict:
    """The preview's dials for ``pipe``: its student's ``PREVIEW_FAST_STEPS`` where it has one that can take these
    dials (``student.choose_student``), else the teacher's ``PREVIEW_STEPS`` as in ``kw``."""
    from diss import defaults
    from diss.student import choose_student

    record = pipe.diss_meta.get("student") if getattr(pipe, "student", None) is not None else None
    if record is None:
        return kw
    scales = (kw["sketch_guidance_scale"], kw["stroke_guidance_scale"])
    window = (defaults.GUIDANCE_START, defaults.GUIDANCE_END)
    fast, _ = choose_student(record, True, PREVIEW_FAST_STEPS, scales, window, kw["sampler"])
    return {**kw, "fast": True, "num_inference_steps": PREVIEW_FAST_STEPS} if fast else {**kw, "fast": False}


def generators(seeds):
    """``runtime.seeded(seeds)``, with torch imported only once a model is loaded (not with the app's modules)."""
    from diss.runtime import seeded

    return seeded(seeds)


def preview_job(pipe_for, model_lock, domain, sketch, stroke, kw: dict, seed: int):
    """The preview's job for ``worker.stream``: None at once when the model is busy (``model_lock``), else the image of
    ``pipe_for(domain)`` at its base size, upscaled to ``PREVIEW_SIDE``; it gives way at its next step to a job that
    waits for the model."""

    def work(callback):
        import torch
        from PIL import Image

        def step(pipe, i, t, data):
            if model_lock.waiting:  # a job is waiting for the model: give way
                raise Stopped
            return callback(pipe, i, t, data)

        with model_lock.hold_if_free() as held:
            if not held:
                return None
            pipe = pipe_for(domain)
            with torch.inference_mode():
                out = pipe(
                    sketch,
                    stroke,
                    generator=generators([seed]),
                    output_type="np",
                    callback_on_step_end=step,
                    output_size=pipe.size,  # the base alone: a cascade's upsampler waits for Generate
                    **preview_dials(pipe, kw),
                )
        side = (PREVIEW_SIDE, PREVIEW_SIDE)
        big = Image.fromarray(to_uint8(out.images)[0]).resize(side, Image.Resampling.LANCZOS)
        return np.asarray(big)

    return work
