"""The app's page: the Gradio Blocks around ``DissApp``'s endpoints (``build``), the files it sends, and ``launch``."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from diss import defaults
from diss.app.canvas import CANVAS, blank_canvas
from diss.app.config import AppConfig
from diss.app.endpoints import SAMPLER_CHOICES, DissApp
from diss.errors import DissError
from diss.outputs import replacing


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
            with replacing(target) as staging:
                staging.write_bytes(data)
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
            domain = gr.Dropdown(app.domains, value=app.domains[0], label="domain (the model)", elem_id="domain")
            # its choices follow the domain; the endpoint checks the name (the page's list may be one domain behind)
            example = gr.Dropdown(app.example_names(), value=None, label="example drawing", elem_id="example",
                                  allow_custom_value=True)  # fmt: skip
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
                label="quick preview (Generate for the full result)",
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
            steps = gr.Slider(1, c.max_steps, app.default_steps(), step=1, label="steps", elem_id="steps")
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
        ev_go = go.click(app.generate, [sketch, stroke, *dials, domain], [gallery, status], api_name="generate")
        ev_sweep = sweep.click(app.sweep, [sketch, stroke, *dials[:-1], domain], [gallery, status], api_name="sweep")
        ev_edit = regenerate.click(
            app.edit, [edit_canvas, sketch, stroke, *dials, domain], [gallery, status], api_name="edit"
        )
        domain.input(guarded(app.pick_domain, 3), domain, [example, steps, status], api_name="pick_domain")
        ev_example = example.input(
            files.wrap(guarded(app.load_example, 3)), [domain, example], [sketch, stroke, status], api_name="example"
        )
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
            domain.input,
        ]
        preview_inputs = [sketch, stroke, s_sketch, s_stroke, realism_on, realism, seed, domain]
        ev_preview = gr.on(
            preview_triggers,
            files.wrap(app.preview),
            preview_inputs,
            preview,
            api_name="preview",
            trigger_mode="always_last",
            concurrency_id="preview",
            concurrency_limit=1,
            show_progress="hidden",
        )
        gr.on(preview_triggers, None, None, None, cancels=[ev_preview])
        ev_example.then(  # a loaded example fires no canvas event: its preview follows the loading
            files.wrap(app.preview),
            preview_inputs,
            preview,
            api_visibility="private",
            concurrency_id="preview",
            concurrency_limit=1,
            show_progress="hidden",
        )
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
