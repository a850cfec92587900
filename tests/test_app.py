"""diss app: every endpoint through gradio_client against the app on localhost (tiny random model), bad input, the
queue limit, and an end-to-end run in real headless Chromium on the shipped model (drawing with the mouse)."""

import shutil
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diss.app import AppConfig, DissApp, flatten, launch, painted_mask
from diss.conventions import SHIPPED_MODEL
from diss.errors import DissError

gradio_client = pytest.importorskip("gradio_client")
handle_file = gradio_client.handle_file

# sketch scale, stroke scale, realism on, realism, sampler, steps, seed, random seed, images
DIALS = [1.5, 1.5, True, 1.0, "ddim", 3, 0, False, 2]


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


def test_generate_sweep_and_unconditional(client, drawing):
    sk = canvas(drawing / "white.png", composite=drawing / "sketch.png")
    st = canvas(drawing / "white.png", layers=[drawing / "strokes.png"])
    gallery, status = client.predict(sk, st, *DIALS, api_name="/generate")
    assert status == "seed 0: done" and len(gallery) == 2
    assert Image.open(gallery[0]["image"]).size == (32, 32) and gallery[1]["caption"] == "seed 1"
    gallery, status = client.predict(sk, st, *DIALS, api_name="/sweep")
    assert len(gallery) == 5 and [g["caption"] for g in gallery][::4] == ["realism 0", "realism 1"]
    empty = canvas(drawing / "white.png")
    gallery, status = client.predict(empty, empty, *DIALS, api_name="/generate")
    assert "empty" in status and "unconditionally" in status and len(gallery) == 2


def test_uploads_and_extraction_fill_the_canvases(client, drawing):
    value, status = client.predict(handle_file(str(drawing / "sketch.png")), api_name="/upload_sketch")
    assert "loaded" in status and Image.open(value["background"]).size == (256, 256)
    value, status = client.predict(handle_file(str(drawing / "strokes.png")), api_name="/upload_stroke")
    assert "loaded" in status
    value, status = client.predict(handle_file(str(drawing / "photo.jpg")), api_name="/upload_edit")
    assert "paint the region" in status and Image.open(value["background"]).size == (256, 256)
    sk, st, status = client.predict(api_name="/reset")
    assert status == "new drawing" and np.asarray(Image.open(sk["background"]).convert("L")).min() == 255
    sk, st, status = client.predict(handle_file(str(drawing / "photo.jpg")), api_name="/extract")
    assert "extracted" in status
    sketch = np.asarray(Image.open(sk["background"]).convert("L"))
    strokes = np.asarray(Image.open(st["background"]).convert("RGB"))
    assert (sketch < 128).any() and (sketch > 200).mean() > 0.5  # dark lines on white
    assert np.abs(strokes.reshape(-1, 3).mean(0) - (40, 120, 40)).max() < 100  # the photo's colours


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
    with pytest.raises(DissError):
        DissApp(AppConfig(model="/no/such/model"))


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium + chromium-driver (.ci/run installs them)")
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

        draw("#sketch .pixi-target canvas", [(-80, -60), (-40, -70), (0, -75), (40, -70), (80, -60), (60, 60)])
        for y in range(-60, 70, 12):  # a filled patch of colour, back and forth
            draw("#stroke .pixi-target canvas", [(-70, y), (70, y)])
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
        shot = Path(__file__).resolve().parents[1] / "outputs" / "app-e2e.png"
        shot.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(shot))  # looked at by people: outputs/app-e2e.png
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
        blocks.close()


def _slow_work(finished):
    def work(callback):
        try:
            for i in range(1000):
                callback(None, i, None, {})
                time.sleep(0.02)
            return "all steps"
        finally:
            finished.set()

    return work


def test_stream_stops_the_worker_when_the_page_stops_listening():
    import threading

    from diss.app import stream

    finished = threading.Event()
    events = stream(_slow_work(finished), timeout_s=60)
    assert next(events) == ("step", 0)
    events.close()  # what Gradio does on Stop or when the page goes away
    assert finished.wait(5)  # the sampler left at its next step instead of running 1,000


def test_stream_stops_a_job_past_the_time_limit():
    import threading

    from diss.app import stream

    finished = threading.Event()
    kinds = [kind for kind, _ in stream(_slow_work(finished), timeout_s=0.3)]
    assert kinds[-1] == "error" and "step" in kinds and finished.wait(5)


def test_app_command_on_a_busy_port_is_one_clear_line(tiny_model, capsys):
    from diss.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["app", "--model", str(tiny_model), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(port) in err


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
    from diss.app import in_cache

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
