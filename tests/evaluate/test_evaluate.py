"""diss evaluate end to end on a tiny random model: files written, metrics sane, resumable and deterministic."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from diss.cli import main
from diss.domains import DOMAINS
from diss.errors import DissError
from diss.evaluate.run import EvalConfig, evaluate
from diss.evaluate.run import _generate as generate
from diss.model import build_unet, preset
from diss.pipeline import DiSSPipeline
from diss.schedulers import make_sampler


@pytest.fixture(scope="module")
def setup(tmp_path_factory, photos):
    torch.manual_seed(0)
    model = tmp_path_factory.mktemp("model")
    DiSSPipeline(unet=build_unet(preset("tiny"), 32), scheduler=make_sampler()).save_pretrained(model)
    data = tmp_path_factory.mktemp("photos")
    for name, rgb in photos.items():
        Image.fromarray(rgb).save(data / f"{name}.png")
        Image.fromarray(rgb[:, ::-1]).save(data / f"{name}_flipped.png")
    return model, data


def config(setup, out, **kw):
    model, data = setup
    base = dict(
        model=str(model),
        data=str(data),
        out=str(out),
        num=4,
        steps=4,
        batch_size=3,
        studies=("base", "realism", "sdedit"),
        realism_values=(0.0, 1.0),
        sdedit_t0=(0.3, 0.7),
        diversity_inputs=2,
        diversity_samples=2,
    )
    return EvalConfig(**{**base, **kw})


@pytest.mark.slow
def test_evaluate_writes_report_metrics_and_plots(setup, tmp_path):
    m = evaluate(config(setup, tmp_path / "r"), progress=False)
    out = tmp_path / "r"
    for name in ("report.md", "metrics.json", "realism_tradeoff.png", "samples.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("fid", "kid", "fid_floor", "kid_floor", "sketch_f1", "stroke_error", "diversity", "sdedit", "n"):
        assert key in saved, key
    assert saved["n"] == 4 and saved["fid"] > 0 and 0 <= saved["sketch_f1"] <= 1 and saved["diversity"] > 0
    # SDEdit from less noise stays closer to the strokes it started from
    assert m["sdedit"]["sdedit_0.3"]["stroke_error"] < m["sdedit"]["sdedit_0.7"]["stroke_error"]
    assert "N = 4" in (out / "report.md").read_text() and "ddim 4 steps" in (out / "report.md").read_text()
    # a second run reuses the samples (generates nothing) and gives the same numbers
    (out / "samples.png").unlink()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("diss.evaluate.run._generate", lambda *a, **k: pytest.fail("samples made again"))
        again = evaluate(config(setup, tmp_path / "r"), progress=False)
    assert again["fid"] == pytest.approx(m["fid"]) and again["settings"].keys() == m["settings"].keys()
    assert (out / "samples.png").is_file()


@pytest.mark.slow
def test_samples_of_an_earlier_run_are_reused_only_when_made_the_same_way(setup, tmp_path):
    out, made = tmp_path / "r", []

    def counting(pipe, setting, *args):
        made.append(setting.get("realism"))
        return generate(pipe, setting, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("diss.evaluate.run._generate", counting)
        first = evaluate(config(setup, out, studies=("base",)), progress=False)
        assert len(made) == 2  # base and the diversity samples
        # the same names, other seeds: the old images must not be taken for the new ones
        second = evaluate(config(setup, out, studies=("base",), seed=1), progress=False)
        assert len(made) == 4 and second["fid"] != pytest.approx(first["fid"])
        # another setting under the same name (another realism for "base"): made again
        evaluate(config(setup, out, studies=("base",), seed=1, realism=0.0), progress=False)
        assert made[-2:] == [0.0, 0.0]
        # a damaged file (cut short) or one whose record is gone: made again, no traceback
        samples = out / "samples"
        raw = (samples / "base.npy").read_bytes()
        (samples / "base.npy").write_bytes(raw[: len(raw) // 2])
        (samples / "diversity.json").unlink()
        evaluate(config(setup, out, studies=("base",), seed=1, realism=0.0), progress=False)
        assert len(made) == 8
        # and now all is in order: nothing is made
        evaluate(config(setup, out, studies=("base",), seed=1, realism=0.0), progress=False)
        assert len(made) == 8
    assert json.loads((samples / "base.json").read_text())["seed"] == 1


@pytest.mark.slow
def test_a_setting_made_under_another_name_is_reused_and_is_the_same_images(setup, tmp_path):
    made = []

    def counting(pipe, setting, *args):
        made.append(setting["study"])
        return generate(pipe, setting, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("diss.evaluate.run._generate", counting)
        m = evaluate(config(setup, tmp_path / "r", studies=("base", "realism"), realism=1.0), progress=False)
    assert sorted(made) == ["base", "base", "realism"]  # base, its diversity samples, realism 0; realism 1 reused
    assert m["settings"]["realism_1"]["fid"] == m["settings"]["base"]["fid"]
    # the premise: made on its own, realism 1 is the base setting's images bit for bit
    alone = evaluate(config(setup, tmp_path / "alone", studies=("realism",), realism_values=(1.0,)), progress=False)
    base = np.load(tmp_path / "r" / "samples" / "base.npy")
    assert np.array_equal(np.load(tmp_path / "alone" / "samples" / "realism_1.npy"), base)
    assert alone["settings"]["realism_1"]["fid"] == m["settings"]["base"]["fid"]


@pytest.mark.slow
def test_without_steps_the_model_folders_own_default_is_used_and_recorded(setup, tmp_path):
    pipe = DiSSPipeline.from_pretrained(setup[0])
    pipe.diss_meta["defaults"] = {"steps": 3}  # as diss export --steps 3 writes it
    pipe.save_pretrained(tmp_path / "own")
    own = (str(tmp_path / "own"), setup[1])
    m = evaluate(config(own, tmp_path / "r", steps=None, studies=("base",)), progress=False)
    assert m["config"]["steps"] == 3 and "ddim 3 steps" in (tmp_path / "r" / "report.md").read_text()
    evaluate(config(own, tmp_path / "r2", steps=2, studies=("base",)), progress=False)  # an explicit count wins
    samples = {r: np.load(tmp_path / r / "samples" / "base.npy") for r in ("r", "r2")}
    assert json.loads((tmp_path / "r2" / "metrics.json").read_text())["config"]["steps"] == 2
    assert not np.array_equal(samples["r"], samples["r2"])


def test_bad_input(setup, tmp_path, capsys):
    with pytest.raises(DissError, match="does not exist"):
        evaluate(config(setup, tmp_path / "o", model=str(tmp_path / "nowhere")), progress=False)
    few = tmp_path / "few"
    few.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(few / "one.png")
    with pytest.raises(DissError, match="at least 4"):
        evaluate(config(setup, tmp_path / "o2", data=str(few)), progress=False)
    code = main(["evaluate", "--model", str(setup[0]), "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o3")])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "does not exist" in err


def test_equal_quality_is_the_fewest_steps_within_the_tolerance():
    from diss.evaluate.run import _settings, equal_quality

    cfg = EvalConfig(model="m", data="d", out="o", studies=("steps",), step_values=(5, 10, 20))
    names = set(_settings(cfg))
    assert names == {"steps_ddpm_250", *(f"steps_{s}_{n}" for s in ("ddim", "dpm++") for n in (5, 10, 20))}
    fid = {"ddpm_250": 100.0, "ddim_5": 130.0, "ddim_10": 104.5, "ddim_20": 104.0, "dpm++_5": 104.9,
           "dpm++_10": 108.0, "dpm++_20": 101.0}  # fmt: skip
    settings = {f"steps_{k}": {"study": "steps", "value": [k.split("_")[0], int(k.split("_")[1])], "fid": v}
                for k, v in fid.items()}  # fmt: skip
    eq = equal_quality(settings, cfg)
    assert eq["reference_fid"] == 100.0 and eq["fid_limit"] == pytest.approx(105.0)
    assert eq["ddim"] == 10  # 10 and 20 are within 5%, 5 is not
    assert eq["dpm++"] == 20  # 5 is within, but 10 is not: FID must stay within from the count on
    settings["steps_ddim_20"]["fid"] = 120.0
    assert equal_quality(settings, cfg)["ddim"] is None  # the largest count tried misses it


@pytest.mark.slow
def test_steps_study_reports_paired_differences_to_its_reference(setup, tmp_path):
    cfg = config(setup, tmp_path / "s", studies=("steps",), step_samplers=("ddim", "dpm++sde:2"), step_values=(2, 3),
                 step_reference=("ddpm", 4))  # fmt: skip
    m = evaluate(cfg, progress=False)
    assert {k for k in m["settings"]} == {"steps_ddpm_4", "steps_ddim_2", "steps_ddim_3", "steps_dpm++sde_2"}
    ref = m["settings"]["steps_ddpm_4"]
    assert ref["fid_difference"] == 0 and ref["fid_difference_95"] == [0.0, 0.0]
    for name in ("steps_ddim_2", "steps_ddim_3"):
        v = m["settings"][name]
        low, high = v["fid_difference_95"]
        assert v["fid_difference"] == pytest.approx(v["fid"] - ref["fid"])
        assert low <= high and v["fid_difference_sd"] > 0
    assert set(m["equal_quality"]) >= {"reference", "fid_limit", "ddim", "dpm++sde"}
    assert "ΔFID vs reference" in (tmp_path / "s" / "report.md").read_text()
    assert (tmp_path / "s" / "fid_vs_steps.png").is_file()


def test_step_grid_reads_per_sampler_counts_and_refuses_bad_ones():
    from diss.evaluate.run import step_grid

    cfg = EvalConfig(model="m", data="d", out="o", step_values=(10, 20), step_samplers=("ddim", "ddpm:25,50"))
    assert step_grid(cfg) == {"ddim": (10, 20), "ddpm": (25, 50)}
    for bad, why in (("euler", "unknown sampler"), ("ddim:ten", "NAME:STEPS"), ("ddim:0", "1 to 10000")):
        with pytest.raises(DissError, match=why):
            step_grid(EvalConfig(model="m", data="d", out="o", step_samplers=(bad,)))


def test_a_bad_step_sampler_is_one_line_and_writes_nothing(setup, tmp_path, capsys):
    out = tmp_path / "never"
    argv = ["evaluate", "--model", str(setup[0]), "--data", str(setup[1]), "--out", str(out), "--studies", "steps"]
    code = main([*argv, "--step-samplers", "ddim", "ddpm:25,x"])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1 and "NAME:STEPS" in err and not out.exists()


@pytest.mark.slow
def test_evaluate_size_256_adds_the_cascade_beside_its_baselines(setup, tmp_path):
    from diss.upsampler import build_upsampler, make_upsampler_scheduler, upsampler_preset

    torch.manual_seed(0)
    folder = tmp_path / "cascade"  # a 16 px base and a 4× upsampler: the cascade's images are 64 px
    DiSSPipeline(unet=build_unet(preset("tiny"), 16), scheduler=make_sampler(),
                 upsampler=build_upsampler(upsampler_preset("tiny")),
                 upsampler_scheduler=make_upsampler_scheduler()).save_pretrained(folder)  # fmt: skip
    m = evaluate(config(setup, tmp_path / "r", model=str(folder), studies=("base",), size=64), progress=False)
    c = m["cascade"]
    assert c["size"] == 64 and c["n"] == 4 and set(c["settings"]) == {"cascade", "lanczos", "sr", "sr_lanczos"}
    assert all(v["fid"] > 0 for v in c["settings"].values()) and c["fid_floor"] > 0
    low, high = c["cascade_minus_lanczos"]["95"]
    assert low <= high and c["cascade_minus_lanczos"]["sd"] >= 0
    assert 0 <= c["sketch_f1"]["cascade"] <= 1 and m["size"] == 16  # the other studies stay at the base's size
    scaled = c["sketch_f1_scaled"]  # 2 px of the 16 px base: 8 px at 64, never stricter than 2 px
    assert scaled["tolerance"] == 8 and all(scaled[k] >= c["sketch_f1"][k] for k in ("cascade", "lanczos", "sr"))
    assert all(0 <= c["line_following"][k] <= 1 for k in ("cascade", "lanczos", "sr"))
    assert "Line following at 64 px" in (tmp_path / "r" / "report.md").read_text()
    u = c["sr_unpaired"]  # against the floor's other photos
    assert u["fid"] > 0 and u["fid_lanczos"] > 0 and u["95"][0] <= u["95"][1]
    d = c["sr_minus_lanczos"]  # the upsampler − Lanczos on the same shrunk photos, paired
    assert d["95"][0] <= d["95"][1] and d["sd"] >= 0
    assert d["fid"] == pytest.approx(c["settings"]["sr"]["fid"] - c["settings"]["sr_lanczos"]["fid"])
    assert "photo/4 + upsampler" in (tmp_path / "r" / "report.md").read_text()
    assert np.load(tmp_path / "r" / "samples" / "cascade_cascade.npy").shape == (4, 64, 64, 3)
    assert (tmp_path / "r" / "cascade.png").is_file() and "The cascade at 64 px" in (
        tmp_path / "r" / "report.md"
    ).read_text()
    with pytest.raises(DissError, match="--size must be 16 or 64"):
        evaluate(config(setup, tmp_path / "r2", model=str(folder), studies=("base",), size=32), progress=False)


@pytest.mark.slow
def test_the_drawing_study_measures_the_dial_on_drawings_from_no_photo(setup, tmp_path):
    cfg = config(setup, tmp_path / "d", studies=("drawings",), drawing_num=7, drawing_realism=(0.0, 1.0))
    m = evaluate(cfg, progress=False)["drawings"]
    assert m["n"] == 4 + 7 and set(m["realism"]) == {"0", "1"}
    assert m["realism"]["0"]["lowpass_side"] > m["realism"]["1"]["lowpass_side"] == 1  # eq. 9's N of each row
    for v in m["realism"].values():
        assert v["kid"] == v["kid"] and v["stroke_error"] > 0 and 0 <= v["sketch_f1"] <= 1 and v["diversity"] > 0
        assert v["daisy_petals"]["L"] >= 0 and isinstance(v["daisy_petals"]["cream"], bool)
    assert set(m["targets"]) >= {"kid_halves", "stroke_error_rises_1.5x", "daisy_cream_everywhere"}
    report = (tmp_path / "d" / "report.md").read_text()
    assert (tmp_path / "d" / "drawings.png").is_file() and "drawings from no photo" in report


@pytest.mark.slow
def test_the_drawing_study_of_a_cats_model_draws_cats_and_measures_no_daisy(setup, tmp_path):
    model, data = setup
    cats = tmp_path / "cats-model"
    shutil.copytree(model, cats)
    meta = json.loads((cats / "diss.json").read_text())
    (cats / "diss.json").write_text(json.dumps({**meta, "domain": "cats"}))
    cfg = config((cats, data), tmp_path / "d", studies=("drawings",), drawing_num=9, drawing_realism=(0.0, 1.0))
    m = evaluate(cfg, progress=False)["drawings"]
    assert m["domain"] == "cats" and m["n"] == len(DOMAINS["cats"].examples) + 9
    assert m["names"][: len(DOMAINS["cats"].examples)] == list(DOMAINS["cats"].examples)
    assert all("daisy_petals" not in v for v in m["realism"].values()) and "daisy_cream_everywhere" not in m["targets"]
    assert "cats drawings from no photo" in (tmp_path / "d" / "report.md").read_text()


def test_the_drawings_of_each_domain_are_its_examples_and_its_seeded_drawings():
    from diss.evaluate.drawings import MADE, benchmark

    for name, domain in DOMAINS.items():
        drawings = benchmark(0, 9, name)
        names = [d[0] for d in drawings]
        assert names[: len(domain.examples)] == list(domain.examples)
        assert len(names) == len(domain.examples) + (9 if name in MADE else 0)  # landscapes: the examples alone
        for _, sketch, stroke in drawings:
            assert sketch.ndim == 2 and stroke.shape == (*sketch.shape, 3)
    assert [d[0] for d in benchmark(0, 2, "cats")][-2:] == ["tabby-000", "ginger-001"]


def test_the_daisys_petal_colour_leaves_the_lines_drawn_over_the_petals_out():
    from diss.evaluate.drawings import petal_colour

    stroke = np.full((128, 128, 3), 255, np.uint8)
    stroke[32:96, 32:96] = (240, 236, 222)  # cream paint
    sketch = np.full((128, 128), 255, np.uint8)
    sketch[32:96:6, 32:96] = 0  # outlines over the petals
    image = np.zeros((64, 64, 3), np.uint8)
    image[:] = (238, 234, 220)
    image[cv2.resize(sketch, (64, 64), interpolation=cv2.INTER_AREA) < 200] = 20  # the lines come out dark
    between = petal_colour(stroke, [image], sketch)
    everywhere = petal_colour(stroke, [image])
    assert between["cream"] and between["L"] > 90
    assert not everywhere["cream"] and everywhere["L"] < between["L"] - 15


def test_the_photos_and_the_floor_are_spread_over_a_folder_sorted_by_class(tmp_path):
    """A folder named class by class (as both shipped domains are): the N evaluated photos and the N floor photos each
    hold every class, in the same mix, instead of the first classes for one set and the next for the other."""
    from diss.evaluate.run import load_photos

    classes = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    for c, colour in enumerate(classes):
        for i in range(10):
            Image.new("RGB", (8, 8), colour).save(tmp_path / f"class{c}_{i:02d}.png")
    photos, floor = load_photos(str(tmp_path), 4)
    assert len(photos) == len(floor) == 4
    seen = [sorted(classes.index(tuple(int(v) for v in p[0, 0])) for p in s) for s in (photos, floor)]
    assert seen[0] == seen[1] == [0, 1, 2, 3]
