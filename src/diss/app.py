"""`diss app`: the drawing app in the browser (Gradio), offline, on the shipped model by default.

Two canvases (a black pen for the sketch, a colour brush with palette, picker and eraser for the strokes), uploads of a
sketch, strokes or a photo to extract both from, the three dials, sampler, steps, seed and number of images, a gallery,
a one-click realism sweep, and local editing (paint a mask over a photo or a result, regenerate only there). Sampling
runs in a worker thread that streams its progress, stops on Stop or after a time limit; the queue runs one job at a
time and holds a bounded number; uploads are limited in bytes and pixels and decoded by diss' own safe loader; the
server listens on localhost unless told otherwise.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no version check or telemetry: the app stays offline

from diss import defaults  # noqa: E402
from diss.conventions import SHIPPED_MODEL  # noqa: E402
from diss.errors import DissError  # noqa: E402

CANVAS = 256  # side of the drawing canvases (px); drawings are resized to the model's side
REALISM_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)
SAMPLER_CHOICES = list(defaults.SAMPLERS)
WHITE_LEVEL = 250  # a canvas whose every pixel is at least this is empty


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


# ---------------------------------------------------------------------------------------------------- canvases


def blank_canvas() -> dict:
    """An empty canvas value: white background, no layers."""
    from PIL import Image

    return {"background": Image.new("RGB", (CANVAS, CANVAS), "white"), "layers": [], "composite": None}


def canvas_value(image: np.ndarray) -> dict:
    """A canvas whose background is ``image`` (uploaded or extracted), resized to the canvas."""
    from PIL import Image

    pil = Image.fromarray(image).convert("RGB").resize((CANVAS, CANVAS), Image.Resampling.LANCZOS)
    return {"background": pil, "layers": [], "composite": None}


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 3 or 4) → (H, W, 3) uint8, transparency composited onto white."""
    a = np.asarray(rgba)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round()
    return a[..., :3].astype(np.uint8)


def flatten(value) -> np.ndarray | None:
    """What a canvas shows, as (H, W, 3) uint8 on white, or None when nothing is drawn or loaded on it.

    The canvas gives ``composite`` once the user has drawn; a value the server has just set has only a background;
    the built-in Clear empties everything."""
    if not value:
        return None
    if value.get("composite") is not None:
        image = _on_white(value["composite"])
    else:
        image = None if value.get("background") is None else _on_white(value["background"])
        for layer in value.get("layers") or []:
            if layer is not None and image is not None and np.asarray(layer).shape[-1] == 4:
                layer = np.asarray(layer, np.float32)
                alpha = layer[..., 3:4] / 255.0
                image = (image * (1 - alpha) + layer[..., :3] * alpha).round().astype(np.uint8)
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


class DissApp:
    """The app's logic, apart from its layout: each public method is one endpoint (and is tested through the client)."""

    def __init__(self, config: AppConfig):
        from diss.pipeline import DiSSPipeline

        self.config = config
        model = Path(config.model) if config.model else SHIPPED_MODEL
        if not model.is_dir():
            raise DissError(f"model folder {model} does not exist; pass --model DIR (a folder made by diss export)")
        self.pipe = DiSSPipeline.from_pretrained(model).to_best_device()
        self.lock = threading.Lock()  # one sampling job on the model at a time, whatever the queue does

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
        return canvas_value(self.load_upload(path)), "sketch loaded: draw over it or generate"

    def upload_stroke(self, path):
        return canvas_value(self.load_upload(path)), "strokes loaded: paint over them or generate"

    def extract(self, path):
        """A photo → its sketch and strokes on the two canvases (the project's extractors)."""
        from diss.data.images import center_square, resize
        from diss.data.sketch import extract_sketch
        from diss.data.stroke import extract_stroke

        side = 2 * self.pipe.size  # drawn at twice the model's side, like a canvas; found at twice that again
        photo = resize(center_square(self.load_upload(path)), 2 * side)
        sketch = extract_sketch(photo, side)
        stroke = extract_stroke(photo, side, seed=0)
        return canvas_value(sketch), canvas_value(stroke), "sketch and strokes extracted from the photo"

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
        sketch, stroke = flatten(sketch_canvas), flatten(stroke_canvas)
        empty = sketch is None and stroke is None
        note = "the canvases are empty: generating unconditionally. " if empty else ""
        return sketch, stroke, note

    def _run(self, make, steps: int, label: str):
        """Stream one job: (gallery, status) pairs while sampling, then the results."""
        import gradio as gr
        import torch

        def work(callback):
            with self.lock, torch.inference_mode():
                return make(callback)

        for kind, value in stream(work, self.config.timeout_s):
            if kind == "step":
                yield gr.update(), f"{label}: step {value + 1}/{steps}"  # the gallery keeps the last results
            elif kind == "done":
                yield value, f"{label}: done"
            else:
                yield gr.update(), f"{label}: {value}"

    # -- endpoints

    def generate(self, sketch_canvas, stroke_canvas, *dials):
        """Images from the two canvases with the dials; yields (gallery items, status)."""
        try:
            kw, seed, num = self._dials(*dials)
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        sketch, stroke, note = self._drawing(sketch_canvas, stroke_canvas)
        make = self._images(sketch, stroke, kw, seed, num, "seed")
        yield from self._run(make, kw["num_inference_steps"], f"{note}seed {seed}")

    def _images(self, sketch, stroke, kw: dict, seed: int, num: int, caption: str, **extra):
        """The job making ``num`` images with seeds seed, seed + 1, …, captioned "{caption} {seed}"."""

        def make(callback):
            import torch

            out = self.pipe(
                sketch,
                stroke,
                num_images=num,
                generator=[torch.Generator().manual_seed(seed + i) for i in range(num)],
                output_type="np",
                callback_on_step_end=callback,
                **kw,
                **extra,
            )
            return [(img, f"{caption} {seed + i}") for i, img in enumerate(out.images)]

        return make

    def sweep(self, sketch_canvas, stroke_canvas, *dials):
        """One image per realism value 0 → 1, the same seed; yields (gallery items, status)."""
        try:
            kw, seed, _ = self._dials(*dials)
        except DissError as e:
            yield _no_change(), f"error: {e}"
            return
        sketch, stroke, note = self._drawing(sketch_canvas, stroke_canvas)
        n = len(REALISM_SWEEP)

        def make(callback):
            import torch

            results, steps = [], kw["num_inference_steps"]
            for k, r in enumerate(REALISM_SWEEP):
                out = self.pipe(
                    sketch,
                    stroke,
                    generator=[torch.Generator().manual_seed(seed)],
                    output_type="np",
                    callback_on_step_end=lambda p, i, t, d, k=k: callback(p, k * steps + i, t, d),  # steps of all
                    **{**kw, "realism": r},
                )
                results.append((out.images[0], f"realism {r:g}"))
            return results

        yield from self._run(make, n * kw["num_inference_steps"], f"{note}realism sweep, seed {seed}")

    def edit(self, edit_canvas, sketch_canvas, stroke_canvas, *dials):
        """Regenerate only where the mask is painted on the editing canvas; yields (gallery items, status)."""
        try:
            kw, seed, num = self._dials(*dials)
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
        make = self._images(sketch, stroke, kw, seed, num, "edited, seed", image=image, mask=mask)
        yield from self._run(make, kw["num_inference_steps"], f"local edit, seed {seed}")

    def upload_edit_image(self, path):
        return canvas_value(self.load_upload(path)), "image loaded: paint the region to regenerate"


# ---------------------------------------------------------------------------------------------------- layout


def build(app: DissApp):
    """The Gradio Blocks of the app (not launched)."""
    import gradio as gr

    c = app.config
    palette = ["#d7261e", "#f08c1a", "#f2c31b", "#3f8f3a", "#2f6fb5", "#8a4fb0", "#e27bb0", "#6b4a2e", "#ececec"]

    def guarded(fn, n_out: int):
        """Upload handlers: a refused upload becomes a message in the page, never a traceback."""

        def run(*args):
            try:
                return fn(*args)
            except DissError as e:
                return (*([gr.update()] * (n_out - 1)), f"error: {e}")

        return run

    def _canvas(**kw):
        """A fixed-size drawing canvas without upload or crop tools, sending lossless PNG."""
        common = dict(type="numpy", sources=(), transforms=(), canvas_size=(CANVAS, CANVAS), fixed_canvas=True)
        return gr.ImageEditor(**common, format="png", **kw)

    def _upload(label: str, elem_id: str):
        return gr.File(label=label, file_types=["image"], elem_id=elem_id, height=120)

    with gr.Blocks(title="diss — sketch + strokes → image", analytics_enabled=False) as blocks:
        gr.Markdown("## diss — draw a sketch and colour strokes, turn the dials, generate")
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
            gallery = gr.Gallery(label="results", elem_id="results", columns=2, height=420, format="png")
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
        ev_sweep = sweep.click(app.sweep, [sketch, stroke, *dials], [gallery, status], api_name="sweep")
        ev_edit = regenerate.click(app.edit, [edit_canvas, sketch, stroke, *dials], [gallery, status], api_name="edit")
        stop.click(None, None, None, cancels=[ev_go, ev_sweep, ev_edit])
        reset.click(
            lambda: (blank_canvas(), blank_canvas(), "new drawing"), None, [sketch, stroke, status], api_name="reset"
        )
        sketch_file.upload(guarded(app.upload_sketch, 2), sketch_file, [sketch, status], api_name="upload_sketch")
        stroke_file.upload(guarded(app.upload_stroke, 2), stroke_file, [stroke, status], api_name="upload_stroke")
        photo_file.upload(guarded(app.extract, 3), photo_file, [sketch, stroke, status], api_name="extract")
        edit_file.upload(guarded(app.upload_edit_image, 2), edit_file, [edit_canvas, status], api_name="upload_edit")

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
                return app.upload_edit_image(path)[0], "result loaded: paint the region to regenerate"
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
        quiet=not block,
        css=hidden_clear,
    )
    return blocks
