"""diss app: every endpoint through gradio_client against the app on localhost (tiny random model), bad input, the
queue limit, the quick preview and the sketch's guide under the strokes, and an end-to-end run in real headless
Chromium on the shipped model (drawing with the mouse)."""

import io
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diss import defaults
from diss.app.canvas import GUIDE_OPACITY, flatten, painted_mask, sketch_guide, stroke_layer
from diss.app.config import AppConfig
from diss.app.endpoints import DissApp
from diss.app.layout import launch
from diss.app.preview import PREVIEW_FAST_STEPS, PREVIEW_SIDE, PREVIEW_STEPS
from diss.conventions import LINE_MAX
from diss.domains import DOMAINS
from diss.errors import DissError
from diss.folder import SHIPPED_MODEL

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file
AppError = gradio_client.exceptions.AppError

# sketch scale, stroke scale, realism on, realism, sampler, steps, seed, random seed, images (the sweep: not the last)
DIALS = [1.5, 1.5, True, 1.0, "ddim", 3, 0, False, 2]
DIAL_NAMES = ["sketch_scale", "stroke_scale", "realism_on", "realism", "sampler", "steps", "seed", "random_seed", "num"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model):
    port = free_port()
    blocks = launch(AppConfig(model=str(tiny_model), port=port, max_upload_mb=1, max_queue=2), block=False)
    yield f"http://127.0.0.1:{port}/"
    blocks.close()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server, verbose=False)


@pytest.fixture(scope="module")
def drawing(tmp_path_factory):
    d = tmp_path_factory.mktemp("drawing")
    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[60:200, 128] = 0
    sketch[128, 60:200] = 0
    strokes = np.zeros((256, 256, 4), np.uint8)  # a transparent layer with a red square painted on it
    strokes[40:216, 40:216] = (220, 40, 40, 255)
    Image.fromarray(sketch).save(d / "sketch.png")
    Image.fromarray(strokes).save(d / "strokes.png")
    Image.new("RGB", (256, 256), "white").save(d / "white.png")
    photo = np.zeros((300, 300, 3), np.uint8)
    photo[:] = (40, 120, 40)
    photo[80:220, 80:220] = (230, 200, 30)
    Image.fromarray(photo).save(d / "photo.jpg")
    return d


def canvas(background=None, layers=(), composite=None) -> dict:
    f = lambda p: None if p is None else handle_file(str(p))  # noqa: E731
    return {"background": f(background), "layers": [f(p) for p in layers], "composite": f(composite), "id": None}


@pytest.mark.slow
def test_generate_sweep_and_unconditional(client, drawing):
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    st = canvas(drawing / "white.png", layers=[drawing / "strokes.png"])
    gallery, status = client.predict(sk, st, *DIALS, api_name="/generate")
    assert status == "seed 0: done" and len(gallery) == 2
    assert Image.open(gallery[0]["image"]).size == (32, 32) and gallery[1]["caption"] == "seed 1"
    gallery, status = client.predict(sk, st, *DIALS[:-1], api_name="/sweep")
    assert len(gallery) == 5 and [g["caption"] for g in gallery][::4] == ["realism 0", "realism 1"]
    empty = canvas(drawing / "white.png")
    gallery, status = client.predict(empty, empty, *DIALS, api_name="/generate")
    assert "empty" in status and "unconditionally" in status and len(gallery) == 2


@pytest.mark.slow
def test_uploads_and_extraction_fill_the_canvases(client, drawing):
    value, status = client.predict(handle_file(str(drawing / "sketch.png")), api_name="/upload_sketch")
    assert "loaded" in status and Image.open(value["background"]).size == (256, 256)
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    value, status = client.predict(handle_file(str(drawing / "strokes.png")), sk, api_name="/upload_stroke")
    layer = np.asarray(Image.open(value["layers"][0]))  # the strokes go into the layer, the guide under them
    guide = np.asarray(Image.open(value["background"]).convert("L"))
    assert "loaded" in status and tuple(layer[100, 100]) == (220, 40, 40, 255) and layer[10, 10, 3] == 0
    assert 180 < guide[150, 128] < 230 and guide[10, 10] == 255  # the sketch's line, faint, under the strokes
    value, status = client.predict(handle_file(str(drawing / "photo.jpg")), api_name="/upload_edit")
    assert "paint the region" in status and Image.open(value["background"]).size == (256, 256)
    sk, st, status = client.predict(api_name="/reset")
    assert status == "new drawing" and np.asarray(Image.open(sk["background"]).convert("L")).min() == 255
    assert np.asarray(Image.open(st["layers"][0]).convert("RGBA"))[..., 3].max() == 0  # replaces the painted layer
    sk, st, status = client.predict(handle_file(str(drawing / "photo.jpg")), api_name="/extract")
    assert "extracted" in status
    sketch = np.asarray(Image.open(sk["background"]).convert("L"))
    strokes = np.asarray(Image.open(st["layers"][0]).convert("RGBA"))
    guide = np.asarray(Image.open(st["background"]).convert("L"))
    assert (sketch < LINE_MAX).any() and (sketch > 200).mean() > 0.5  # dark lines on white
    painted = strokes[..., 3] > 0
    assert painted.mean() > 0.5 and np.abs(strokes[painted][:, :3].mean(0) - (40, 120, 40)).max() < 100  # its colours
    assert guide.min() >= 255 * (1 - GUIDE_OPACITY) - 2 and guide.min() < 250  # the sketch's faint guide under them


@pytest.mark.slow
def test_local_editing_changes_only_the_masked_region(client, drawing):
    photo = np.zeros((256, 256, 3), np.uint8)
    photo[:] = (30, 90, 200)
    Image.fromarray(photo).save(drawing / "edit.png")
    mask = np.zeros((256, 256, 4), np.uint8)
    mask[:, 128:] = (255, 0, 255, 255)  # the right half painted
    Image.fromarray(mask).save(drawing / "mask.png")
    edit = canvas(drawing / "edit.png", layers=[drawing / "mask.png"])
    st = canvas(drawing / "white.png", layers=[drawing / "strokes.png"])
    gallery, status = client.predict(edit, canvas(drawing / "white.png"), st, *DIALS, api_name="/edit")
    assert "done" in status
    out = np.asarray(Image.open(gallery[0]["image"]).convert("RGB")).astype(int)  # the model's 32 px
    assert np.abs(out[:, :14] - (30, 90, 200)).max() <= 2  # left of the mask: the photo, unchanged
    assert np.abs(out[:, 18:] - (30, 90, 200)).mean() > 10  # inside: regenerated
    _, status = client.predict(canvas(drawing / "edit.png"), canvas(), st, *DIALS, api_name="/edit")
    assert status.startswith("error") and "paint" in status


@pytest.mark.slow
def test_bad_input_is_a_message_in_the_page(client, drawing, tmp_path):
    (tmp_path / "fake.png").write_text("not an image")
    value, status = client.predict(handle_file(str(tmp_path / "fake.png")), api_name="/upload_sketch")
    assert status.startswith("error") and "refused" in status
    big = tmp_path / "big.png"  # 4,100 × 4,100 = 16.8 MP > the 16 MP limit, yet a small file
    Image.new("RGB", (4100, 4100), "white").save(big)
    *_, status = client.predict(handle_file(str(big)), api_name="/extract")
    assert status.startswith("error") and "pixels" in status
    noise = tmp_path / "noise.png"  # over the 1 MB upload limit of this server
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (800, 800, 3), dtype=np.uint8)).save(noise)
    with pytest.raises(Exception, match="(?i)size"):
        client.predict(handle_file(str(noise)), api_name="/upload_sketch")
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    for dials in ([*DIALS[:5], 0, *DIALS[6:]], [*DIALS[:8], 99], [*DIALS[:4], "euler", *DIALS[5:]]):
        with pytest.raises(gradio_client.exceptions.AppError, match="(?i)minimum|maximum|not in the list"):
            client.predict(sk, canvas(), *dials, api_name="/generate")  # refused by the page's own limits


@pytest.mark.slow
def test_many_users_at_once_are_queued_or_told_the_queue_is_full(server, drawing):
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    clients = [gradio_client.Client(server, verbose=False) for _ in range(6)]
    jobs = [c.submit(sk, canvas(), *DIALS[:5], 40, *DIALS[6:], api_name="/generate") for c in clients]
    done, refused = 0, 0
    for job in jobs:
        try:
            _, status = job.result(timeout=120)
            done += status.endswith("done")
        except Exception as e:  # gradio_client raises QueueError("Queue is full! ...")
            assert "queue" in str(e).lower()
            refused += 1
    assert done >= 1 and refused >= 1 and done + refused == 6


def test_canvas_helpers():
    assert flatten(None) is None and flatten({"background": None, "layers": [], "composite": None}) is None
    white = np.full((8, 8, 3), 255, np.uint8)
    assert flatten({"background": white, "layers": [], "composite": None}) is None
    layer = np.zeros((8, 8, 4), np.uint8)
    layer[2:4, 2:4] = (10, 200, 10, 255)
    flat = flatten({"background": white, "layers": [layer], "composite": None})
    assert tuple(flat[3, 3]) == (10, 200, 10) and tuple(flat[6, 6]) == (255, 255, 255)
    assert painted_mask({"background": white, "layers": [layer]}).sum() == 4 * 255
    gray = np.full((8, 8, 3), 200, np.uint8)  # a guide in the background, and the page's composite showing it
    strokes = flatten({"background": gray, "layers": [layer], "composite": gray}, background=False)
    assert tuple(strokes[3, 3]) == (10, 200, 10) and tuple(strokes[6, 6]) == (255, 255, 255)
    assert flatten({"background": gray, "layers": [], "composite": gray}, background=False) is None
    with pytest.raises(DissError):
        DissApp(AppConfig(model="/no/such/model"))


def test_sketch_guide_and_stroke_layer():
    sketch = np.full((128, 128, 3), 255, np.uint8)
    sketch[:, 62:66] = 0  # 4 px at 128: 8 px on the canvas
    guide = np.asarray(sketch_guide(sketch).convert("L"))
    assert guide.shape == (256, 256) and guide[:, :100].min() == 255  # white paper stays white
    assert abs(int(guide[:, 128:130].min()) - round(255 * (1 - GUIDE_OPACITY))) <= 3  # ink at GUIDE_OPACITY
    assert np.asarray(sketch_guide(None)).min() == 255
    strokes = np.full((64, 64, 3), 255, np.uint8)
    strokes[:32] = (245, 245, 245)  # white paint (capped at 245) is paint
    layer = stroke_layer(strokes)
    assert layer.shape == (256, 256, 4) and (layer[:100, :, 3] == 255).all() and (layer[150:, :, 3] == 0).all()


def test_images_go_to_the_page_as_files_written_once():
    from diss.app.layout import ImageFiles

    files = ImageFiles()
    image = np.zeros((8, 8, 4), np.uint8)
    first = files.path(image)
    written = Path(first).stat().st_mtime_ns
    time.sleep(0.01)
    value = files.convert(({"background": image[..., :3], "layers": [image], "composite": None}, "status"))
    assert value[0]["layers"] == [first] and Path(first).stat().st_mtime_ns == written  # the same file, untouched
    assert np.array_equal(np.asarray(Image.open(value[0]["background"])), image[..., :3]) and value[1] == "status"
    assert value[0]["composite"] is None and files.path(image + 1) != first


class RecordingPipe:
    """Stands in for the pipeline: records what each call was given, returns gray images."""

    size = 32

    def __init__(self):
        self.calls = []

    def __call__(self, sketch, stroke, num_images=1, callback_on_step_end=None, **kw):
        self.calls.append({"sketch": sketch, "stroke": stroke, **kw})
        for i in range(kw["num_inference_steps"]):
            callback_on_step_end(self, i, None, {})
        return type("Out", (), {"images": np.full((num_images, 32, 32, 3), 128, np.uint8)})


def test_the_sketch_guide_never_reaches_the_pipeline_but_uploaded_strokes_do(tiny_model, drawing, tmp_path):
    app = DissApp(AppConfig(model=str(tiny_model)))
    app.models.first = pipe = RecordingPipe()
    sketch = np.full((256, 256, 3), 255, np.uint8)
    sketch[:, 20] = 0  # a line outside the painted square
    Image.fromarray(sketch).save(tmp_path / "sketch.png")
    sketch_value = app.upload_sketch(tmp_path / "sketch.png")[0]
    strokes_value = app.upload_stroke(drawing / "strokes.png", sketch_value)[0]
    guide = np.asarray(strokes_value["background"])
    assert guide[:, 20].max() < 230  # the guide is there, under the strokes
    layer = strokes_value["layers"][0]
    page = {**strokes_value, "composite": flatten({**strokes_value, "layers": [layer]})}  # what the page sends back
    page["layers"] = [layer, np.zeros_like(layer)]  # and an empty layer the user added
    for _ in app.generate(sketch_value, page, *DIALS):
        pass
    for _ in app.preview(sketch_value, page, *DIALS[:4], 0):
        pass
    for call in pipe.calls:
        stroke = call["stroke"]
        assert (stroke[:, :40] == 255).all() and (stroke[:, 216:] == 255).all()  # no trace of the guide's line
        assert (stroke[40:216, 40:216] == (220, 40, 40)).all()  # the uploaded strokes, exactly
        assert call["sketch"][:, 20].max() < 10  # the sketch itself is unchanged
    assert len(pipe.calls) == 2 and pipe.calls[1]["num_inference_steps"] == PREVIEW_STEPS
    again = list(app.preview(sketch_value, page, *DIALS[:4], 0))  # the page asks for the same preview again: kept
    assert len(pipe.calls) == 2 and again[-1].shape == (PREVIEW_SIDE, PREVIEW_SIDE, 3)
    guided = app.guide(sketch_value, page)  # after a sketch stroke: a new guide, the painted layers kept
    assert np.asarray(guided["background"])[:, 20].max() < 230 and np.array_equal(guided["layers"][0], layer)
    pipe.calls.clear()
    _, extracted, _ = app.extract(drawing / "photo.jpg")
    for _ in app.generate(sketch_value, extracted, *DIALS):
        pass
    stroke = pipe.calls[0]["stroke"]  # photo-extracted strokes reach the pipeline too: green with a yellow square
    assert np.abs(stroke[128, 128].astype(int) - (230, 200, 30)).max() < 60
    assert np.abs(stroke[5, 250].astype(int) - (40, 120, 40)).max() < 60


def _drawn(side: int = 256) -> tuple[dict, dict]:
    """A sketch canvas with a cross and a strokes canvas with a red square in its layer, as the page sends them."""
    sketch = np.full((side, side, 3), 255, np.uint8)
    sketch[side // 4 : -side // 4, side // 2] = 0
    sketch[side // 2, side // 4 : -side // 4] = 0
    layer = np.zeros((side, side, 4), np.uint8)
    layer[side // 8 : -side // 8, side // 8 : -side // 8] = (220, 40, 40, 255)
    return {"background": sketch, "layers": [], "composite": sketch}, {"background": None, "layers": [layer]}


def test_a_model_with_a_student_previews_with_it_in_one_step(tiny_student_model):
    """The student's one step (one U-Net call) where it can take the dials; beyond its scales, the teacher's steps."""
    app = DissApp(AppConfig(model=str(tiny_student_model)))
    sk, st = _drawn()
    pipe = app.pipe_for(None)
    calls = []
    pipe.student.register_forward_pre_hook(lambda m, a: calls.append("student"))
    pipe.unet.register_forward_pre_hook(lambda m, a: calls.append("teacher"))
    *_, shown = app.preview(sk, st, 2.5, 1.0, True, 0.5, 7)
    assert calls == ["student"] * PREVIEW_FAST_STEPS and shown.shape == (PREVIEW_SIDE, PREVIEW_SIDE, 3)
    calls.clear()
    list(app.preview(sk, st, 4.0, 1.0, True, 0.5, 7))  # a scale the student was not distilled for: the teacher
    assert calls and set(calls) == {"teacher"}


def test_the_preview_is_the_first_image_generate_makes_at_few_steps(tiny_model):
    app = DissApp(AppConfig(model=str(tiny_model)))
    sk, st = _drawn()
    *_, shown = app.preview(sk, st, 2.0, 1.0, True, 0.5, 7)
    gallery, _ = list(app.generate(sk, st, 2.0, 1.0, True, 0.5, "ddim", PREVIEW_STEPS, 7, False, 1))[-1]
    full = Image.fromarray(gallery[0][0]).resize((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    assert shown.shape == (PREVIEW_SIDE, PREVIEW_SIDE, 3) and np.array_equal(shown, np.asarray(full))
    *_, other_seed = app.preview(sk, st, 2.0, 1.0, True, 0.5, 8)
    assert not np.array_equal(other_seed, shown)
    blank = {"background": np.full((64, 64, 3), 255, np.uint8), "layers": [], "composite": None}
    assert list(app.preview(blank, blank, 1.5, 1.5, True, 1.0, 0)) == [None]  # empty canvases: no preview


class SlowPipe(RecordingPipe):
    """A pipeline whose sampling takes 6,000 steps of 10 ms, unless its step callback stops it; before each step's
    callback it notes whether a job was waiting for ``model_lock`` then."""

    def __init__(self, model_lock=None):
        super().__init__()
        self.started = threading.Event()
        self.model_lock = model_lock
        self.job_waiting: list[bool] = []  # one per step taken

    def __call__(self, sketch, stroke, num_images=1, callback_on_step_end=None, **kw):
        self.started.set()
        for i in range(6000):
            self.job_waiting.append(bool(self.model_lock and self.model_lock.waiting))
            callback_on_step_end(self, i, None, {})
            time.sleep(0.01)
        return super().__call__(sketch, stroke, num_images, lambda *a: None, **kw)


def test_a_preview_gives_way_to_generate_at_once(tiny_model):
    import gradio as gr

    app = DissApp(AppConfig(model=str(tiny_model)))
    app.models.first = pipe = SlowPipe(app.model_lock)
    sk, st = _drawn()
    skipped = []
    with app._holding_model():  # a Generate job holds the model: the preview is skipped, the old one stays
        previewing = threading.Thread(target=lambda: skipped.extend(app.preview(sk, st, *DIALS[:4], 0)), daemon=True)
        previewing.start()
        previewing.join(60)  # a deadline only, so that a preview waiting for the model fails instead of hanging
        answered_while_held = not previewing.is_alive()
    assert answered_while_held and skipped == [gr.skip()]  # it never waited for the model the job holds
    assert not pipe.started.is_set()  # and never started sampling
    yields = []
    running = threading.Thread(target=lambda: yields.extend(app.preview(sk, st, *DIALS[:4], 0)))
    running.start()
    assert pipe.started.wait(60)
    with app._holding_model():  # a job arriving during a preview gets the model at the preview's next step
        pass
    running.join(60)
    assert not running.is_alive() and yields and all(y == gr.skip() for y in yields)  # it stopped without an image
    # once the job waited, the preview took no step beyond the one that saw it (not the rest of its 6,000)
    assert pipe.job_waiting.count(True) <= 1 and len(pipe.job_waiting) < 6000


@pytest.mark.slow
def test_a_preview_never_waits_behind_a_generate_job(server, client, drawing):
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    st = canvas(drawing / "white.png", layers=[drawing / "strokes.png"])
    image = client.predict(sk, st, *DIALS[:4], 0, api_name="/preview")
    assert Image.open(image).size == (PREVIEW_SIDE, PREVIEW_SIDE)
    other = gradio_client.Client(server, verbose=False)
    job = other.submit(sk, st, *DIALS[:5], 250, *DIALS[6:8], 8, api_name="/generate")  # long: 250 steps, 8 images
    deadline = time.monotonic() + 60
    while not job.outputs() and time.monotonic() < deadline:  # until it samples
        time.sleep(0.05)
    skipped = client.predict(sk, st, *DIALS[:4], 1, api_name="/preview")  # another seed: not a kept preview
    # answered while Generate holds the model, not queued behind it: skipped, no new image (the page keeps the last one)
    assert not isinstance(skipped, str)
    job.cancel()
    deadline = time.monotonic() + 120  # a deadline only, so that a failure does not hang
    while not isinstance(made := client.predict(sk, st, *DIALS[:4], 1, api_name="/preview"), str):
        assert time.monotonic() < deadline, "the preview was never made once Generate let the model go"
        time.sleep(0.1)
    assert Image.open(made).size == (PREVIEW_SIDE, PREVIEW_SIDE)  # the same preview, once the model is free


@pytest.mark.slow
def test_endpoints_have_named_parameters(client, drawing):
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    names = {endpoint: [p["parameter_name"] for p in info["parameters"]] for endpoint, info in api.items()}
    assert names["/generate"] == ["sketch_canvas", "stroke_canvas", *DIAL_NAMES, "domain"]
    assert names["/sweep"] == ["sketch_canvas", "stroke_canvas", *DIAL_NAMES[:-1], "domain"]
    assert names["/edit"] == ["edit_canvas", "sketch_canvas", "stroke_canvas", *DIAL_NAMES, "domain"]
    assert names["/preview"] == ["sketch_canvas", "stroke_canvas", *DIAL_NAMES[:4], "seed", "domain"]
    assert names["/upload_stroke"] == ["path", "sketch_canvas"] and names["/extract"] == ["path"]
    assert names["/example"] == ["domain", "name"] and names["/pick_domain"] == ["domain"]
    assert not [n for endpoint in names.values() for n in endpoint if n.startswith("param")]
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    kwargs = dict(zip(DIAL_NAMES, DIALS, strict=True))
    gallery, status = client.predict(
        sketch_canvas=sk, stroke_canvas=canvas(), **{**kwargs, "num": 1}, api_name="/generate"
    )
    assert status == "seed 0: done" and len(gallery) == 1


@pytest.mark.slow
def test_the_page_names_the_backend(tiny_model, server):
    import httpx

    app = DissApp(AppConfig(model=str(tiny_model), backend="torch"))
    assert app.pipe.backend == "torch" and app.pipe.backend_note in app.status_on_load()
    config = httpx.get(f"{server}config").json()
    texts = [c["props"].get("value") for c in config["components"] if c.get("type") == "markdown"]
    status_id = next(c["id"] for c in config["components"] if c["props"].get("elem_id") == "status")
    on_load = [d for d in config["dependencies"] if [t[1] for t in d["targets"]] == ["load"]]
    assert any("backend" in str(t) for t in texts) and [d["outputs"] for d in on_load] == [[status_id]]
    with pytest.raises(DissError, match="backend"):
        DissApp(AppConfig(model=str(tiny_model), backend="tensorrt"))


@pytest.mark.slow
def test_example_drawings_of_the_domain_fill_the_canvases(client, tiny_model):
    domain = str(tiny_model)  # the one domain the server offers: its --model folder
    sk, st, status = client.predict(domain, "daisy", api_name="/example")  # a folder naming no domain: flowers'
    assert status == "example daisy loaded: draw over it or generate"
    assert (np.asarray(Image.open(sk["background"]).convert("L")) < LINE_MAX).any()
    assert (np.asarray(Image.open(st["layers"][0]).convert("RGBA"))[..., 3] > 0).mean() > 0.2
    _, _, status = client.predict(domain, "mountain", api_name="/example")
    assert status.startswith("error") and "not an example drawing" in status
    _, steps, status = client.predict(domain, api_name="/pick_domain")  # the steps slider: its model's default
    assert steps["value"] == defaults.STEPS and status.startswith(domain)
    empty = canvas()
    for args, api in ((["nowhere"], "/pick_domain"), ([empty, empty, *DIALS, "nowhere"], "/generate")):
        with pytest.raises(AppError, match="not in the list of choices"):  # the page offers its domains only
            client.predict(*args, api_name=api)


def test_without_model_the_app_offers_every_shipped_domain_and_routes_each_job(drawing):
    app = DissApp(AppConfig(backend="torch"))
    assert app.domains == list(DOMAINS) and app.pipe.diss_meta["domain"] == app.domains[0]
    assert app.example_names("landscapes") == list(DOMAINS["landscapes"].examples)
    update, steps, status = app.pick_domain("landscapes")
    assert update["choices"] == [(n, n) for n in DOMAINS["landscapes"].examples] or update["choices"] == list(
        DOMAINS["landscapes"].examples
    )
    # the steps slider follows the model's own default (landscapes' diss.json: 20; flowers: the project's)
    assert steps["value"] == 20 and status.startswith("landscapes") and "20 steps" in status
    assert app.pick_domain("flowers")[1]["value"] == app.default_steps() == defaults.STEPS
    assert "landscapes" not in app.models.loaded  # loaded when first used, not when picked
    assert app.pipe_for("landscapes").diss_meta["domain"] == "landscapes"
    app.models.loaded["landscapes"] = recording = RecordingPipe()
    sk, st, _ = app.load_example("landscapes", "sea")
    for _ in app.generate(sk, st, *DIALS, "landscapes"):
        pass
    assert len(recording.calls) == 1  # the job ran on the landscapes model


@pytest.mark.slow
def test_the_app_never_prints_the_share_hint(tiny_model, capfd, monkeypatch):
    import gradio as gr

    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # launch(block=True) returns, as on Ctrl-C
    blocks = launch(AppConfig(model=str(tiny_model), port=free_port()), block=True)
    blocks.close()
    out, err = capfd.readouterr()
    assert "share" not in (out + err).lower() and "public link" not in (out + err).lower()


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
@pytest.mark.slow
def test_end_to_end_in_headless_chromium(tmp_path):
    """Draw with the mouse on both canvases of the app on the shipped model, press Generate, see a result."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    blocks = launch(AppConfig(model=str(SHIPPED_MODEL), port=port), block=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tempfile.mkdtemp()}",
        "--window-size=1400,1600",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 60)

        def status(d) -> str:
            return d.find_element(By.CSS_SELECTOR, "#status textarea").get_attribute("value")

        def draw(selector, points):
            element = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, selector)))
            time.sleep(1.0)  # the canvas loads its white background
            actions = ActionChains(driver).move_to_element_with_offset(element, *points[0]).click_and_hold()
            for p in points[1:]:
                actions.move_to_element_with_offset(element, *p)
            actions.release().perform()

        def strokes_canvas() -> np.ndarray:
            element = driver.find_element(By.CSS_SELECTOR, "#stroke .pixi-target canvas")
            return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")).astype(int)

        def guide_pixels(d) -> int:  # white before, now light neutral gray: the sketch's faint lines
            a = strokes_canvas()
            return int((white & (a.min(2) > 170) & (a.max(2) < 235) & (a.max(2) - a.min(2) < 8)).sum())

        def red_pixels() -> int:  # white before, now the palette's first colour, #d7261e
            a = strokes_canvas()
            return int((white & (a[..., 0] > 170) & (a[..., 1] < 90) & (a[..., 2] < 90)).sum())

        wait.until(lambda d: status(d).startswith("ready (") and "backend" in status(d))  # says what runs the model
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#stroke .pixi-target canvas")))
        time.sleep(1.0)
        white = strokes_canvas().min(2) >= 250  # the empty strokes canvas (the element holds its tools too)
        draw("#sketch .pixi-target canvas", [(-80, -60), (-40, -70), (0, -75), (40, -70), (80, -60), (60, 60)])
        wait.until(lambda d: guide_pixels(d) > 100)  # the sketch shows faintly under the strokes
        rows = range(-60, 70, 12)  # a filled patch of colour: one stroke, back and forth
        draw("#stroke .pixi-target canvas", [(x, y) for i, y in enumerate(rows) for x in ((-70, 70), (70, -70))[i % 2]])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#preview img"))  # the quick preview
        painted, guide = red_pixels(), guide_pixels(driver)
        draw("#sketch .pixi-target canvas", [(-80, 80), (80, 80)])  # more sketch: a new guide, the paint kept
        wait.until(lambda d: guide_pixels(d) > guide + 50)
        assert painted > 1000 and red_pixels() > 0.9 * painted
        steps = driver.find_element(By.CSS_SELECTOR, "#steps input[type=number]")
        steps.clear()
        steps.send_keys("10")
        driver.find_element(By.CSS_SELECTOR, "#go").click()
        wait.until(lambda d: "done" in status(d))
        images = driver.find_elements(By.CSS_SELECTOR, "#results img")
        assert images and images[0].get_attribute("src").startswith(f"http://127.0.0.1:{port}/")
        click = lambda el: driver.execute_script("arguments[0].click();", el)  # noqa: E731
        click(images[0])  # select the result, open local editing, and take the result there
        click(driver.find_element(By.XPATH, "//button[contains(., 'Local editing')]"))
        click(wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#pick"))))
        wait.until(lambda d: "result loaded" in status(d))
        shot = Path(__file__).resolve().parents[2] / "outputs" / "app-e2e.png"
        shot.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(shot))  # looked at by people: outputs/app-e2e.png
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
        blocks.close()


def _slow_work(finished, taken):
    """A job of 1,000 steps of 20 ms; ``taken`` gets each step it finished, ``finished`` is set when it leaves."""

    def work(callback):
        try:
            for i in range(1000):
                callback(None, i, None, {})
                taken.append(i)
                time.sleep(0.02)
            return "all steps"
        finally:
            finished.set()

    return work


def test_stream_stops_the_worker_when_the_page_stops_listening():
    import threading

    from diss.app.worker import stream

    finished, taken = threading.Event(), []
    events = stream(_slow_work(finished, taken), timeout_s=60)
    assert next(events) == ("step", 0)
    events.close()  # what Gradio does on Stop or when the page goes away
    assert finished.wait(60)  # a deadline only, so that a failure does not hang
    assert len(taken) < 1000  # the sampler left at its next step instead of running 1,000


def test_stream_stops_a_job_past_the_time_limit():
    import threading

    from diss.app.worker import stream

    finished, taken = threading.Event(), []
    events = list(stream(_slow_work(finished, taken), timeout_s=0.3))
    assert events[-1][0] == "error" and "limit" in events[-1][1]
    assert finished.wait(60)  # a deadline only, so that a failure does not hang
    assert len(taken) < 1000  # the job was stopped, not left to run its 1,000 steps


def test_app_command_on_a_busy_port_is_one_clear_line(tiny_model, capsys):
    from diss.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["app", "--model", str(tiny_model), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(port) in err


@pytest.mark.slow
def test_server_paths_from_a_client_are_refused(server, client, drawing, tmp_path):
    """A client naming a file on the server (not one it uploaded) gets an error; the app keeps serving."""
    import httpx

    url = f"{server}gradio_api/call/upload_sketch"
    event = httpx.post(url, json={"data": [{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}]}).json()
    reply = httpx.get(f"{url}/{event['event_id']}", timeout=60).text
    assert "event: error" in reply and "complete" not in reply
    value, status = client.predict(handle_file(str(drawing / "sketch.png")), api_name="/upload_sketch")
    assert "loaded" in status  # still serving


def test_a_gallery_pick_takes_only_files_in_the_gradio_cache(tmp_path):
    from diss.app.layout import in_cache

    cache = tmp_path / "cache"
    (cache / "abc").mkdir(parents=True)
    inside = cache / "abc" / "image.png"
    inside.write_bytes(b"x")
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    (cache / "link.png").symlink_to(outside)
    assert in_cache(str(inside), str(cache))
    for path in (str(outside), str(cache / "abc" / ".." / ".." / "secret.png"), str(cache / "link.png"), "/etc/passwd",
                 str(cache / "missing.png"), str(cache), "", "\x00"):  # fmt: skip
        assert not in_cache(path, str(cache)), path
