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

import contextlib
import contextvars
import inspect
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no version check or telemetry: the app stays offline

from diss import defaults  # noqa: E402
from diss.conventions import to_uint8  # noqa: E402
from diss.errors import DissError  # noqa: E402

CANVAS = 256  # side of the drawing canvases (px); drawings are resized to the model's side
REALISM_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
SAMPLER_CHOICES = list(defaults.SAMPLERS)
WHITE_LEVEL = 250  # a canvas whose every pixel is at least this is empty
GUIDE_OPACITY = 0.2  # the sketch's lines under the strokes canvas: 20% ink on white
# quick preview: DDIM steps after each stroke. A guided step on the shipped 64 px model is one U-Net forward at batch 3:
# a 2-step preview took 0.29 s (3 steps 0.43 s, 4 steps 0.57 s) on 2 cores of an AVX-512/bf16 EPYC, 0.78 s with the
# kernels held to AVX2 in fp32 (a laptop without bf16); 1 step is still noise with this schedule, 2 show the picture
PREVIEW_STEPS = 2
PREVIEW_SAMPLER = "ddim"  # deterministic: a preview changes only when the drawing or a dial does
PREVIEW_SIDE = 256  # the preview is upscaled to this side for display
PREVIEWS_KEPT = 16


@dataclass
class AppConfig:
    model: str | None = None  # None: the shipped flowers model
    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_mb: float = 10.0
    max_upload_pixels: int = 16_000_000
    max_queue: int = 16  # jobs waiting; more are refused with "queue is full"
    concurrency: int = 1  # jobs sampling at once
    timeout_s: float = 300.0  # a job still sampling after this is stopped
    max_images: int = 8
    max_steps: int = 250
    backend: str = defaults.BACKEND  # where the U-Net runs: auto, torch or openvino (DiSSPipeline.to_best_device)


# ---------------------------------------------------------------------------------------------------- canvases


def blank_canvas() -> dict:
    """An empty canvas value: white background, no layers."""
    from PIL import Image

    return {"background": Image.new("RGB", (CANVAS, CANVAS), "white"), "layers": [], "composite": None}


def blank_strokes() -> dict:
    """An empty strokes canvas: white background and one transparent layer, which replaces whatever was painted (a
    value without layers leaves the page's painted layers in place)."""
    return {**blank_canvas(), "layers": [np.zeros((CANVAS, CANVAS, 4), np.uint8)]}


def canvas_value(image: np.ndarray) -> dict:
    """A canvas whose background is ``image`` (uploaded or extracted), resized to the canvas."""
    from PIL import Image

    pil = Image.fromarray(image).convert("RGB").resize((CANVAS, CANVAS), Image.Resampling.LANCZOS)
    return {"background": pil, "layers": [], "composite": None}


def sketch_guide(sketch: np.ndarray | None):
    """The strokes canvas's background: the sketch's lines at ``GUIDE_OPACITY`` on white (white when there is no
    sketch), as a CANVAS-sided RGB PIL image. It is only shown: the strokes are read from the layers alone."""
    from PIL import Image

    if sketch is None:
        return Image.new("RGB", (CANVAS, CANVAS), "white")
    ink = 255.0 - np.asarray(Image.fromarray(sketch).convert("L").resize((CANVAS, CANVAS), Image.Resampling.LANCZOS))
    faint = (255.0 - GUIDE_OPACITY * ink).round().astype(np.uint8)
    return Image.fromarray(faint).convert("RGB")


def stroke_layer(image: np.ndarray) -> np.ndarray:
    """Strokes (RGB paint on white, any size) → a CANVAS-sided RGBA layer: paint opaque, unpainted white transparent,
    so that the guide shows through where nothing is painted and the layer composited onto white is the strokes."""
    from PIL import Image

    rgb = np.asarray(Image.fromarray(_on_white(image)).resize((CANVAS, CANVAS), Image.Resampling.LANCZOS))
    alpha = np.where((rgb >= WHITE_LEVEL).all(axis=2), 0, 255).astype(np.uint8)
    return np.dstack([rgb, alpha])


def strokes_value(strokes: np.ndarray, sketch: np.ndarray | None) -> dict:
    """A strokes canvas holding ``strokes`` in its layer over the faint guide of ``sketch``."""
    return {"background": sketch_guide(sketch), "layers": [stroke_layer(strokes)], "composite": None}


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 3 or 4) → (H, W, 3) uint8, transparency composited onto white."""
    a = np.asarray(rgba)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round()
    return a[..., :3].astype(np.uint8)


def _over(image: np.ndarray | None, layer) -> np.ndarray | None:
    """An RGBA ``layer`` composited over ``image`` (RGB; None: white); a layer without alpha (a mode that dropped
    it: its unpainted pixels read black) or of another size is left out."""
    layer = np.asarray(layer, np.float32)
    if layer.ndim != 3 or layer.shape[-1] != 4 or (image is not None and image.shape[:2] != layer.shape[:2]):
        return image
    base = np.full((*layer.shape[:2], 3), 255.0) if image is None else image.astype(np.float32)
    alpha = layer[..., 3:4] / 255.0
    return (base * (1 - alpha) + layer[..., :3] * alpha).round().astype(np.uint8)


def flatten(value, background: bool = True) -> np.ndarray | None:
    """What a canvas shows, as (H, W, 3) uint8 on white, or None when nothing is drawn or loaded on it.

    The canvas gives ``composite`` once the user has drawn; a value the server has just set has only a background;
    the built-in Clear empties everything. ``background=False`` (the strokes canvas, whose background is the sketch's
    guide) takes the paint layers alone, composited onto white: never the background, nor the composite, which shows
    it."""
    if not value:
        return None
    if background and value.get("composite") is not None:
        image = _on_white(value["composite"])
    else:
        image = None
        if background and value.get("background") is not None:
            image = _on_white(value["background"])
        for layer in value.get("layers") or []:
            if layer is not None and (image is not None or not background):
                image = _over(image, layer)
    if image is None or image.min() >= WHITE_LEVEL:
        return None
    return image


def painted_mask(value) -> np.ndarray | None:
    """The mask painted on the editing canvas: (H, W) uint8, 255 where any layer has paint; None when unpainted."""
    if not value:
        return None
    masks = [np.asarray(layer)[..., 3] > 0 for layer in value.get("layers") or [] if np.asarray(layer).shape[-1] == 4]
    if not masks or not np.any(masks):
        return None
    return (np.logical_or.reduce(masks) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------- sampling


class _Stopped(Exception):
    pass


def stream(work, timeout_s: float):
    """Run ``work(step_callback)`` in a worker thread; yield ("step", i) per sampling step, then ("done", result),
    ("stopped", reason) or ("error", message). Closing the generator (Stop, a closed page) stops the worker at its
    next step, and so does the time limit."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def callback(_pipe, i, _t, data):
        if stop.is_set():
            raise _Stopped
        events.put(("step", i))
        return data

    def worker():
        try:
            events.put(("done", work(callback)))
        except _Stopped:
            events.put(("stopped", "stopped"))
        except DissError as e:
            events.put(("error", str(e)))
        except Exception as e:  # a bug: one line in the page, the app goes on
            events.put(("error", f"unexpected error: {type(e).__name__}: {e}"))

    context = contextvars.copy_context()  # so that Gradio's progress tracker sees the sampler's tqdm bar
    threading.Thread(target=context.run, args=(worker,), daemon=True).start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if time.monotonic() > deadline:
                stop.set()
                yield "error", f"stopped: the job ran longer than the app's limit of {timeout_s:g} s"
                return
            try:
                kind, value = events.get(timeout=0.25)
            except queue.Empty:
                continue
            yield kind, value
            if kind != "step":
                return
    finally:
        stop.set()


def _digest(*parts) -> str:
    """A key for what a preview is made from: arrays by their shape and bytes, anything else by its repr."""
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(repr((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()


def _seeded(seeds):
    from diss.diffusion import seeded  # torch: imported once the model is loaded, not with the module

    return seeded(seeds)


class DissApp:
    """The app's logic, apart from its layout: each public method is one endpoint (and is tested through the client)."""

    def __init__(self, config: AppConfig):
        from diss.folder import resolve_model
        from diss.pipeline import DiSSPipeline

        self.config = config
        self.pipe = DiSSPipeline.from_pretrained(resolve_model(config.model)).to_best_device(backend=config.backend)
        self.pipe.set_progress_bar_config(disable=True)  # the page shows the progress
        self.lock = threading.Lock()  # one sampling job on the model at a time, whatever the queue does
        self._waiting = 0  # jobs waiting for the lock: a preview gives way to them
        self._waiting_lock = threading.Lock()
        self._previews: dict[str, np.ndarray] = {}  # the last PREVIEWS_KEPT previews, by what they were made from

    @property
    def backend_note(self) -> str:
        """One line: which inference backend the model runs on, and why."""
        return self.pipe.backend_note

    def status_on_load(self) -> str:
        """The status box when the page opens."""
        return f"ready ({self.backend_note})"

    @contextlib.contextmanager
    def _holding_model(self):
        """Hold the model for a Generate, sweep or edit job; a preview running meanwhile stops at its next step."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

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
        return (
            {
                "sketch_guidance_scale": float(sketch_scale),
                "stroke_guidance_scale": float(stroke_scale),
                "realism": float(realism) if realism_on else None,
                "sampler": sampler,
                "num_inference_steps": steps,
            },
            seed,
            num,
        )

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
    ):
        """Images from the two canvases with the dials; yields (gallery items, status)."""
        try:
            kw, seed, num = self._dials(
                sketch_scale, stroke_scale, realism_on, realism, sampler, steps, seed, random_seed, num
            )
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        sketch, stroke, note = self._drawing(sketch_canvas, stroke_canvas)
        make = self._images(sketch, stroke, kw, seed, num, "seed")
        yield from self._run(make, kw["num_inference_steps"], f"{note}seed {seed}")

    def _images(self, sketch, stroke, kw: dict, seed: int, num: int, caption: str, **extra):
        """The job making ``num`` images with seeds seed, seed + 1, …, captioned "{caption} {seed}"."""

        def make(callback):

            out = self.pipe(
                sketch,
                stroke,
                num_images=num,
                generator=_seeded(range(seed, seed + num)),
                output_type="np",
                callback_on_step_end=callback,
                **kw,
                **extra,
            )
            return [(img, f"{caption} {seed + i}") for i, img in enumerate(to_uint8(out.images))]

        return make

    def preview(self, sketch_canvas, stroke_canvas, sketch_scale, stroke_scale, realism_on, realism, seed):
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
        kw = {
            "sketch_guidance_scale": float(sketch_scale),
            "stroke_guidance_scale": float(stroke_scale),
            "realism": float(realism) if realism_on else None,
            "sampler": PREVIEW_SAMPLER,
            "num_inference_steps": PREVIEW_STEPS,
        }
        seed = int(seed or 0)  # an emptied seed box: 0, as a preview never stops for an error
        key = _digest(sketch, stroke, sorted(kw.items()), seed)
        if key in self._previews:
            yield self._previews[key]
            return
        for kind, value in stream(self._preview_work(sketch, stroke, kw, seed), self.config.timeout_s):
            if kind == "done" and value is not None:
                self._previews[key] = value
                while len(self._previews) > PREVIEWS_KEPT:
                    self._previews.pop(next(iter(self._previews)))
                yield value
            else:  # a step (yielding lets a cancel close this generator between steps), skipped, stopped, failed
                yield gr.skip()

    def _preview_work(self, sketch, stroke, kw: dict, seed: int):
        """The preview's job: None at once when the model is busy, else the upscaled image."""

        def work(callback):
            import torch
            from PIL import Image

            def step(pipe, i, t, data):
                if self._waiting:  # a job is waiting for the model: give way
                    raise _Stopped
                return callback(pipe, i, t, data)

            if self._waiting or not self.lock.acquire(blocking=False):
                return None
            try:
                with torch.inference_mode():
                    out = self.pipe(
                        sketch,
                        stroke,
                        generator=_seeded([seed]),
                        output_type="np",
                        callback_on_step_end=step,
                        **kw,
                    )
            finally:
                self.lock.release()
            side = (PREVIEW_SIDE, PREVIEW_SIDE)
            big = Image.fromarray(to_uint8(out.images)[0]).resize(side, Image.Resampling.LANCZOS)
            return np.asarray(big)

        return work

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
    ):
        """One image per realism value 0 → 1, the same seed; yields (gallery items, status)."""
        try:
            kw, seed, _ = self._dials(
                sketch_scale, stroke_scale, realism_on, realism, sampler, steps, seed, random_seed, 1
            )
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        sketch, stroke, note = self._drawing(sketch_canvas, stroke_canvas)
        n = len(REALISM_SWEEP)

        def make(callback):

            results, steps = [], kw["num_inference_steps"]
            for k, r in enumerate(REALISM_SWEEP):
                out = self.pipe(
                    sketch,
                    stroke,
                    generator=_seeded([seed]),
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
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        image = _on_white(image)
        sketch, stroke, _ = self._drawing(sketch_canvas, stroke_canvas)
        make = self._images(sketch, stroke, kw, seed, num, "edited, seed", image=image, mask_image=mask)
        yield from self._run(make, kw["num_inference_steps"], f"local edit, seed {seed}")

    def upload_edit_image(self, path):
        """An uploaded photo → the editing canvas."""
        return canvas_value(self.load_upload(path)), "image loaded: paint the region to regenerate"


class ImageFiles:
    """The images the app sends to canvases and the preview, as PNG files named by their content, each written once
    (atomically) into a folder of its own. Gradio rewrites its cached file whenever the same image is sent again,
    and a page still loading that file then gets a truncated one and drops the layer or preview; a file that never
    changes cannot be read half-written. The folder goes when the process ends."""

    def __init__(self):
        import tempfile

        self._folder = tempfile.TemporaryDirectory(prefix="diss-app-")  # in the system temp folder: Gradio serves it

    def path(self, image) -> str:
        """A PIL image or uint8 array → the path of its PNG file."""
        import hashlib
        import io

        from PIL import Image

        buffer = io.BytesIO()
        (image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))).save(buffer, format="PNG")
        data = buffer.getvalue()
        target = Path(self._folder.name) / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
        if not target.exists():
            staging = target.with_name(f".{target.name}.{threading.get_ident()}")
            staging.write_bytes(data)
            os.replace(staging, target)
        return str(target)

    def convert(self, value):
        """Images in an endpoint's output (alone, in a canvas value or in a tuple of outputs) → file paths."""
        from PIL import Image

        if isinstance(value, (np.ndarray, Image.Image)):
            return self.path(value)
        if isinstance(value, tuple):
            return tuple(self.convert(v) for v in value)
        if isinstance(value, dict) and "layers" in value:
            images = {key: self.convert(value.get(key)) for key in ("background", "composite")}
            return {**value, **images, "layers": [self.convert(layer) for layer in value.get("layers") or []]}
        return value

    def wrap(self, fn):
        """``fn`` (a function or a generator function) with its images sent as files; the same parameters."""
        if inspect.isgeneratorfunction(fn):

            def run(*args):
                for out in fn(*args):
                    yield self.convert(out)
        else:

            def run(*args):
                return self.convert(fn(*args))

        run.__signature__ = inspect.signature(fn)
        run.__doc__ = fn.__doc__
        return run


# ---------------------------------------------------------------------------------------------------- layout


def build(app: DissApp):
    """The Gradio Blocks of the app (not launched)."""
    import gradio as gr

    c = app.config
    files = ImageFiles()
    palette = ["#d7261e", "#f08c1a", "#f2c31b", "#3f8f3a", "#2f6fb5", "#8a4fb0", "#e27bb0", "#6b4a2e", "#ececec"]

    def guarded(fn, n_out: int):
        """Upload handlers: a refused upload becomes a message in the page, never a traceback."""

        def run(*args):
            try:
                return fn(*args)
            except DissError as e:
                return (*([gr.update()] * (n_out - 1)), f"error: {e}")

        run.__signature__ = inspect.signature(fn)  # the endpoint's parameter names, for gradio_client
        return run

    def _canvas(**kw):
        """A fixed-size drawing canvas without upload or crop tools, sending lossless PNG."""
        common = dict(type="numpy", sources=(), transforms=(), canvas_size=(CANVAS, CANVAS), fixed_canvas=True)
        return gr.ImageEditor(**common, format="png", **kw)

    def _upload(label: str, elem_id: str):
        return gr.File(label=label, file_types=["image"], elem_id=elem_id, height=120)

    with gr.Blocks(title="diss — sketch + strokes → image", analytics_enabled=False) as blocks:
        gr.Markdown(
            "## diss — draw a sketch and colour strokes, turn the dials, generate\n"
            "The strokes canvas shows the sketch faintly, as a guide that is never part of the strokes; the quick "
            f"preview follows every stroke. {app.backend_note}"
        )
        with gr.Row():
            sketch = _canvas(
                value=blank_canvas(),
                label="sketch (black pen)",
                elem_id="sketch",
                image_mode="RGB",
                layers=False,
                brush=gr.Brush(colors=["#000000"], default_color="#000000", color_mode="fixed", default_size=3),
                eraser=gr.Eraser(default_size=12),
            )
            stroke = _canvas(
                value=blank_canvas(),
                label="colour strokes (white = free)",
                elem_id="stroke",
                image_mode="RGBA",
                layers=gr.LayerOptions(layers=["strokes"], allow_additional_layers=False),
                brush=gr.Brush(colors=palette, default_color=palette[0], color_mode="defaults", default_size=14),
                eraser=gr.Eraser(default_size=16),
            )
            preview = gr.Image(
                label=f"quick preview ({PREVIEW_STEPS} steps; Generate for the full result)",
                elem_id="preview",
                interactive=False,
                height=CANVAS + 60,
                buttons=[],
            )
        gallery = gr.Gallery(
            label="results",
            elem_id="results",
            columns=6,
            fit_columns=False,
            height=260,
            object_fit="contain",
            format="png",
        )
        with gr.Row():
            sketch_file = _upload("upload a sketch", "sketch_file")
            stroke_file = _upload("upload strokes", "stroke_file")
            photo_file = _upload("upload a photo: extract both", "photo_file")
        with gr.Row():
            s_sketch = gr.Slider(0, 5, defaults.SKETCH_GUIDANCE_SCALE, step=0.1, label="sketch scale")
            s_stroke = gr.Slider(0, 5, defaults.STROKE_GUIDANCE_SCALE, step=0.1, label="stroke scale")
            realism_on = gr.Checkbox(defaults.REALISM is not None, label="realism on")
            realism = gr.Slider(0, 1, defaults.REALISM or 1.0, step=0.05, label="realism (0 = follow the colours)")
        with gr.Row():
            sampler = gr.Dropdown(SAMPLER_CHOICES, value=defaults.SAMPLER, label="sampler")
            steps = gr.Slider(1, c.max_steps, defaults.STEPS, step=1, label="steps", elem_id="steps")
            seed = gr.Number(0, precision=0, label="seed")
            random_seed = gr.Checkbox(False, label="random seed")
            num = gr.Slider(1, c.max_images, 2, step=1, label="images")
        with gr.Row():
            go = gr.Button("Generate", variant="primary", elem_id="go")
            sweep = gr.Button("Realism sweep", elem_id="sweep")
            stop = gr.Button("Stop", variant="stop", elem_id="stop")
            reset = gr.Button("New drawing", elem_id="reset")
        status = gr.Textbox(label="status", interactive=False, elem_id="status")
        with gr.Accordion("Local editing: paint a mask over a photo or a result, regenerate only there", open=False):
            with gr.Row():
                edit_canvas = _canvas(
                    value=None,
                    label="image + mask (paint the region to regenerate)",
                    elem_id="edit",
                    image_mode="RGBA",
                    layers=gr.LayerOptions(layers=["mask"], allow_additional_layers=False),
                    brush=gr.Brush(colors=["#ff00ff"], default_color="#ff00ff", color_mode="fixed", default_size=24),
                    eraser=gr.Eraser(default_size=24),
                )
                with gr.Column():
                    edit_file = _upload("upload a photo to edit", "edit_file")
                    pick = gr.Button("Edit the selected result", elem_id="pick")
                    regenerate = gr.Button("Regenerate inside the mask", variant="primary", elem_id="regenerate")
                    gr.Markdown("The sketch and strokes of the canvases above guide what grows inside the mask.")
        selected = gr.State(None)

        dials = [s_sketch, s_stroke, realism_on, realism, sampler, steps, seed, random_seed, num]
        ev_go = go.click(app.generate, [sketch, stroke, *dials], [gallery, status], api_name="generate")
        ev_sweep = sweep.click(app.sweep, [sketch, stroke, *dials[:-1]], [gallery, status], api_name="sweep")
        ev_edit = regenerate.click(app.edit, [edit_canvas, sketch, stroke, *dials], [gallery, status], api_name="edit")
        stop.click(None, None, None, cancels=[ev_go, ev_sweep, ev_edit])
        reset.click(files.wrap(app.reset), None, [sketch, stroke, status], api_name="reset")
        sketch_file.upload(
            files.wrap(guarded(app.upload_sketch, 2)), sketch_file, [sketch, status], api_name="upload_sketch"
        )
        stroke_file.upload(
            files.wrap(guarded(app.upload_stroke, 2)), [stroke_file, sketch], [stroke, status], api_name="upload_stroke"
        )
        photo_file.upload(files.wrap(guarded(app.extract, 3)), photo_file, [sketch, stroke, status], api_name="extract")
        edit_file.upload(
            files.wrap(guarded(app.upload_edit_image, 2)), edit_file, [edit_canvas, status], api_name="upload_edit"
        )

        # the sketch's faint guide under the strokes: right away, outside the queue (no model involved)
        sketch.input(
            files.wrap(app.guide),
            [sketch, stroke],
            stroke,
            queue=False,
            trigger_mode="always_last",
            show_progress="hidden",
            api_visibility="private",
        )
        # the quick preview after each finished stroke or dial change: its own concurrency group, so it never waits
        # behind Generate; always_last, so strokes in quick succession make one preview with the last drawing; and a
        # new stroke cancels the preview still running (a generator: it stops at its next step)
        preview_triggers = [
            sketch.input,
            stroke.input,
            s_sketch.release,
            s_stroke.release,
            realism_on.input,
            realism.release,
            seed.input,
        ]
        ev_preview = gr.on(
            preview_triggers,
            files.wrap(app.preview),
            [sketch, stroke, s_sketch, s_stroke, realism_on, realism, seed],
            preview,
            api_name="preview",
            trigger_mode="always_last",
            concurrency_id="preview",
            concurrency_limit=1,
            show_progress="hidden",
        )
        gr.on(preview_triggers, None, None, None, cancels=[ev_preview])
        blocks.load(app.status_on_load, None, status, queue=False, api_visibility="private")

        def on_select(evt: gr.SelectData):
            """The selected result's file; the path comes from the page, so only files in Gradio's own cache (where
            the gallery's results live) are taken: never a server path a client names."""
            try:
                path = evt.value["image"]["path"]
            except (TypeError, KeyError):
                return None
            return path if isinstance(path, str) and in_cache(path, blocks.GRADIO_CACHE) else None

        on_select.__annotations__ = {"evt": gr.SelectData}  # a real class: this module's annotations are strings
        gallery.select(on_select, None, selected, api_name=False)

        def pick_result(path):
            if not path:
                return gr.update(), "select a result in the gallery first"
            try:
                return files.convert(app.upload_edit_image(path)[0]), "result loaded: paint the region to regenerate"
            except DissError as e:  # the result left Gradio's cache
                return gr.update(), f"error: {e}"

        pick.click(pick_result, selected, [edit_canvas, status], api_name=False)
        blocks.queue(default_concurrency_limit=c.concurrency, max_size=c.max_queue)
    return blocks


def in_cache(path: str, cache: str) -> bool:
    """Whether ``path`` (after resolving links and ..) is a file inside the folder ``cache``."""
    try:
        target = Path(path).resolve(strict=True)
        return target.is_file() and target.is_relative_to(Path(cache).resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def _no_change():
    import gradio as gr

    return gr.update()


def launch(config: AppConfig, block: bool = True):
    """Build and start the app; returns the Blocks (``block=False`` returns at once, for tests)."""
    app = DissApp(config)
    blocks = build(app)
    hidden_clear = "button[aria-label='Clear canvas'] {display: none !important}"  # our "New drawing" keeps white
    blocks.launch(
        server_name=config.host,
        server_port=config.port,
        max_file_size=f"{config.max_upload_mb:g}mb",
        share=False,
        show_error=False,
        ssr_mode=False,
        prevent_thread_lock=not block,
        quiet=True,  # Gradio's own lines end with "To create a public link, set `share=True`": diss never shares
        css=hidden_clear,
    )
    return blocks
