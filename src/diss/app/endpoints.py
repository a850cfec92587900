"""`diss app`: the drawing app in the browser (Gradio), offline, on the shipped model by default.

Two canvases (a black pen for the sketch, a colour brush with palette, picker and eraser for the strokes), uploads of a
sketch, strokes or a photo to extract both from, the three dials, sampler, steps, seed and number of images, a gallery,
a one-click realism sweep, and local editing (paint a mask over a photo or a result, regenerate only there). After
each finished stroke a quick preview (a few DDIM steps, the same seed and dials) refreshes beside the canvases; the
strokes canvas shows the sketch faintly underneath as a guide that is never part of the strokes. Sampling runs in a
worker thread that streams its progress, stops on Stop or after a time limit; the queue runs one job at a time and
holds a bounded number, and previews never wait behind it or hold it up; uploads are limited in bytes and pixels and
decoded by diss' own safe loader; the server listens on localhost unless told otherwise, and never offers to share.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no version check or telemetry: the app stays offline

from diss import defaults  # noqa: E402
from diss.app.canvas import (  # noqa: E402
    blank_canvas,
    blank_strokes,
    canvas_value,
    flatten,
    painted_mask,
    sketch_guide,
    strokes_value,
)
from diss.app.config import AppConfig  # noqa: E402
from diss.app.models import AppModels  # noqa: E402
from diss.app.preview import (  # noqa: E402
    PREVIEW_SAMPLER,
    PREVIEW_STEPS,
    PREVIEWS_KEPT,
    generators,
    pipe_dials,
    preview_job,
)
from diss.app.worker import ModelLock, digest, stream  # noqa: E402
from diss.conventions import on_white, to_uint8  # noqa: E402
from diss.errors import DissError  # noqa: E402

SAMPLER_CHOICES = list(defaults.SAMPLERS)


class DissApp:
    """The app's logic, apart from its layout: each public method is one endpoint (and is tested through the client)."""

    def __init__(self, config: AppConfig):
        self.config = config
        self.models = AppModels(config.model, config.backend)
        self.domains = self.models.names
        self.model_lock = ModelLock()  # one sampling job on the model at a time, whatever the queue does
        self._previews: dict[str, np.ndarray] = {}  # the last PREVIEWS_KEPT previews, by what they were made from

    @property
    def pipe(self):
        """The first domain's pipeline (loaded at start)."""
        return self.models.first

    def pipe_for(self, domain: str | None = None):
        """The pipeline of ``domain`` (one of ``self.domains``; None or "": the first), loaded on first use."""
        return self.models.get(domain)

    def check_domain(self, domain: str | None) -> None:
        self.models.check(domain)

    def pick_domain(self, domain: str | None):
        """The page's domain changed: its example drawings for the examples list and its model's default steps for the
        steps slider; its model loads on first use."""
        import gradio as gr

        self.check_domain(domain)
        names, steps = self.example_names(domain), self.default_steps(domain)
        status = f"{domain or self.domains[0]}: pick an example drawing or draw ({steps} steps: this model's default)"
        return gr.update(choices=names, value=None), gr.update(value=steps), status

    def default_steps(self, domain: str | None = None) -> int:
        """The sampling steps ``domain``'s model sets as its default: the steps slider's value when it is picked."""
        return min(self.models.steps(domain), self.config.max_steps)

    def example_names(self, domain: str | None = None) -> list[str]:
        """The example drawings offered with ``domain``."""
        return self.models.examples(domain)

    def load_example(self, domain: str | None, name: str):
        """An example drawing of ``domain`` (examples/) → both canvases."""
        from diss.folder import load_example

        self.check_domain(domain)
        if name not in self.example_names(domain):
            raise DissError(f"{name!r} is not an example drawing of {domain or self.domains[0]}")
        sketch, stroke = load_example(name)
        return canvas_value(sketch), strokes_value(stroke, sketch), f"example {name} loaded: draw over it or generate"

    @property
    def backend_note(self) -> str:
        """One line: which inference backend the model runs on, and why."""
        return self.pipe.backend_note

    def status_on_load(self) -> str:
        """The status box when the page opens."""
        return f"ready ({self.backend_note})"

    def _holding_model(self):
        """Hold the model for a Generate, sweep or edit job; a preview running meanwhile stops at its next step."""
        return self.model_lock.hold()

    # -- inputs

    def load_upload(self, path) -> np.ndarray:
        """An uploaded file → (H, W, 3) uint8, through diss' safe decoder, within the app's pixel limit."""
        from diss.data.images import ImageLoadError, load_image

        if not path:
            raise DissError("no file was uploaded")
        try:
            return load_image(path, max_pixels=self.config.max_upload_pixels)
        except ImageLoadError as e:
            raise DissError(f"the upload was refused: {e.reason}") from None

    def upload_sketch(self, path):
        """An uploaded sketch → the sketch canvas."""
        return canvas_value(self.load_upload(path)), "sketch loaded: draw over it or generate"

    def upload_stroke(self, path, sketch_canvas=None):
        """Uploaded strokes → the strokes canvas's layer, over the guide of the current sketch."""
        strokes = strokes_value(self.load_upload(path), flatten(sketch_canvas))
        return strokes, "strokes loaded: paint over them or generate"

    def guide(self, sketch_canvas, stroke_canvas):
        """The strokes canvas after the sketch changed: the sketch's faint guide as its background, its paint layers
        as they are (a new background alone would make the page drop them)."""
        layers = [np.asarray(layer) for layer in (stroke_canvas or {}).get("layers") or [] if layer is not None]
        return {"background": sketch_guide(flatten(sketch_canvas)), "layers": layers, "composite": None}

    def reset(self):
        """New drawing: both canvases empty (and the preview with them)."""
        return blank_canvas(), blank_strokes(), "new drawing"

    def extract(self, path):
        """A photo → its sketch and strokes on the two canvases (the project's extractors)."""
        from diss.data.images import center_square, resize
        from diss.data.sketch import extract_sketch
        from diss.data.stroke import extract_stroke

        side = 2 * self.pipe.size  # drawn at twice the model's side, like a canvas; found at twice that again
        photo = resize(center_square(self.load_upload(path)), 2 * side)
        sketch = extract_sketch(photo, side)
        stroke = extract_stroke(photo, side, seed=0)
        return canvas_value(sketch), strokes_value(stroke, sketch), "sketch and strokes extracted from the photo"

    def _dials(self, sketch_scale, stroke_scale, realism_on, realism, sampler, steps, seed, random_seed, num):
        c = self.config
        steps, num = int(steps), int(num)
        if not 1 <= steps <= c.max_steps:
            raise DissError(f"steps must be 1 to {c.max_steps}")
        if not 1 <= num <= c.max_images:
            raise DissError(f"number of images must be 1 to {c.max_images}")
        if sampler not in SAMPLER_CHOICES:
            raise DissError(f"unknown sampler {sampler!r}")
        seed = int(np.random.default_rng().integers(0, 2**31 - 1)) if random_seed else int(seed)
        return pipe_dials(sketch_scale, stroke_scale, realism_on, realism, sampler, steps), seed, num

    def _drawing(self, sketch_canvas, stroke_canvas):
        """The two drawings as the pipeline takes them: the sketch as shown, the strokes from the paint layers alone
        (never the sketch's guide under them)."""
        sketch, stroke = flatten(sketch_canvas), flatten(stroke_canvas, background=False)
        empty = sketch is None and stroke is None
        note = "the canvases are empty: generating unconditionally. " if empty else ""
        return sketch, stroke, note

    def _run(self, make, steps: int, label: str):
        """Stream one job: (gallery, status) pairs while sampling, then the results."""
        import gradio as gr
        import torch

        def work(callback):
            with self._holding_model(), torch.inference_mode():
                return make(callback)

        for kind, value in stream(work, self.config.timeout_s):
            if kind == "step":
                yield gr.update(), f"{label}: step {value + 1}/{steps}"  # the gallery keeps the last results
            elif kind == "done":
                yield value, f"{label}: done"
            else:
                yield gr.update(), f"{label}: {value}"

    # -- endpoints

    def generate(
        self,
        sketch_canvas,
        stroke_canvas,
        sketch_scale,
        stroke_scale,
        realism_on,
        realism,
        sampler,
        steps,
        seed,
        random_seed,
        num,
        domain=None,
    ):
        """Images from the two canvases with the dials, by the model of ``domain`` (None: the first); yields
        (gallery items, status)."""
        try:
            kw, seed, num = self._dials(
                sketch_scale, stroke_scale, realism_on, realism, sampler, steps, seed, random_seed, num
            )
            self.check_domain(domain)
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        sketch, stroke, note = self._drawing(sketch_canvas, stroke_canvas)
        make = self._images(domain, sketch, stroke, kw, seed, num, "seed")
        yield from self._run(make, kw["num_inference_steps"], f"{note}seed {seed}")

    def _images(self, domain, sketch, stroke, kw: dict, seed: int, num: int, caption: str, **extra):
        """The job making ``num`` images with seeds seed, seed + 1, …, captioned "{caption} {seed}"."""

        def make(callback):
            out = self.pipe_for(domain)(
                sketch,
                stroke,
                num_images=num,
                generator=generators(range(seed, seed + num)),
                output_type="np",
                callback_on_step_end=callback,
                **kw,
                **extra,
            )
            return [(img, f"{caption} {seed + i}") for i, img in enumerate(to_uint8(out.images))]

        return make

    def preview(self, sketch_canvas, stroke_canvas, sketch_scale, stroke_scale, realism_on, realism, seed, domain=None):
        """A quick look at the first image Generate would make (the same seed and dials, ``PREVIEW_STEPS`` DDIM
        steps), upscaled to ``PREVIEW_SIDE``: yields the image (None when both canvases are empty). Skipped at once,
        the last preview staying, while a Generate, sweep or edit job holds or waits for the model; such a job stops
        a running preview at its next step, and so does a newer stroke (the page cancels the event). A preview that
        fails says nothing: Generate says why. The last few previews are kept: the page asks again for the same one
        (a sketch stroke also sets the strokes canvas's guide, which fires that canvas's input event)."""
        import gradio as gr

        sketch, stroke, _ = self._drawing(sketch_canvas, stroke_canvas)
        if sketch is None and stroke is None:
            yield None
            return
        kw = pipe_dials(sketch_scale, stroke_scale, realism_on, realism, PREVIEW_SAMPLER, PREVIEW_STEPS)
        seed = int(seed or 0)  # an emptied seed box: 0, as a preview never stops for an error
        key = digest(sketch, stroke, sorted(kw.items()), seed, domain or self.domains[0])
        if key in self._previews:
            yield self._previews[key]
            return
        job = preview_job(self.pipe_for, self.model_lock, domain, sketch, stroke, kw, seed)
        for kind, value in stream(job, self.config.timeout_s):
            if kind == "done" and value is not None:
                self._previews[key] = value
                while len(self._previews) > PREVIEWS_KEPT:
                    self._previews.pop(next(iter(self._previews)))
                yield value
            else:  # a step (yielding lets a cancel close this generator between steps), skipped, stopped, failed
                yield gr.skip()

    def sweep(
        self,
        sketch_canvas,
        stroke_canvas,
        sketch_scale,
        stroke_scale,
        realism_on,
        realism,
        sampler,
        steps,
        seed,
        random_seed,
        domain=None,
    ):
        """One image per realism value 0 → 1, the same seed; yields (gallery items, status)."""
        try:
            kw, seed, _ = self._dials(
                sketch_scale, stroke_scale, realism_on, realism, sampler, steps, seed, random_seed, 1
            )
            self.check_domain(domain)
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        sketch, stroke, note = self._drawing(sketch_canvas, stroke_canvas)
        n = len(defaults.REALISM_SWEEP)

        def make(callback):

            results, steps, pipe = [], kw["num_inference_steps"], self.pipe_for(domain)
            for k, r in enumerate(defaults.REALISM_SWEEP):
                out = pipe(
                    sketch,
                    stroke,
                    generator=generators([seed]),
                    output_type="np",
                    callback_on_step_end=lambda p, i, t, d, k=k: callback(p, k * steps + i, t, d),  # steps of all
                    **{**kw, "realism": r},
                )
                results.append((to_uint8(out.images)[0], f"realism {r:g}"))
            return results

        yield from self._run(make, n * kw["num_inference_steps"], f"{note}realism sweep, seed {seed}")

    def edit(
        self,
        edit_canvas,
        sketch_canvas,
        stroke_canvas,
        sketch_scale,
        stroke_scale,
        realism_on,
        realism,
        sampler,
        steps,
        seed,
        random_seed,
        num,
        domain=None,
    ):
        """Regenerate only where the mask is painted on the editing canvas; yields (gallery items, status)."""
        try:
            kw, seed, num = self._dials(
                sketch_scale, stroke_scale, realism_on, realism, sampler, steps, seed, random_seed, num
            )
            image = None if not edit_canvas else edit_canvas.get("background")
            if image is None:
                raise DissError("load a photo or pick a result to edit first")
            mask = painted_mask(edit_canvas)
            if mask is None:
                raise DissError("paint the region to regenerate on the image first")
            self.check_domain(domain)
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        image = on_white(image)
        sketch, stroke, _ = self._drawing(sketch_canvas, stroke_canvas)
        make = self._images(domain, sketch, stroke, kw, seed, num, "edited, seed", image=image, mask_image=mask)
        yield from self._run(make, kw["num_inference_steps"], f"local edit, seed {seed}")

    def upload_edit_image(self, path):
        """An uploaded photo → the editing canvas."""
        return canvas_value(self.load_upload(path)), "image loaded: paint the region to regenerate"


def _no_change():
    import gradio as gr

    return gr.update()
