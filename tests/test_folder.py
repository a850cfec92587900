"""Model folders: the one resolver of what diss ships (a checkout or a wheel) and of what --model names."""

import subprocess
import sys
from pathlib import Path

import pytest

from diss import folder
from diss.errors import DissError, require
from diss.folder import SHIPPED_MODEL, resolve_model, shipped_path


def test_the_shipped_model_and_examples_are_found_and_named(tmp_path):
    assert (SHIPPED_MODEL / "model_index.json").is_file() and (shipped_path("examples") / "daisy-sketch.png").is_file()
    assert resolve_model(None) == resolve_model("flowers") == SHIPPED_MODEL
    assert resolve_model("landscapes") == SHIPPED_MODEL.parent / "landscapes"
    assert resolve_model(tmp_path) == tmp_path
    with pytest.raises(DissError, match="does not exist.*flowers, landscapes"):
        resolve_model(tmp_path / "nowhere")


def test_inside_an_installed_package_the_package_data_comes_first(tmp_path, monkeypatch):
    """A wheel carries pretrained/ and examples/ inside the package (pyproject's package-dir): found there first."""
    package = tmp_path / "site-packages" / "diss"
    (package / "pretrained" / "flowers").mkdir(parents=True)
    monkeypatch.setattr(folder, "__file__", str(package / "folder.py"))
    assert shipped_path("pretrained") == package / "pretrained"
    assert resolve_model("flowers") == package / "pretrained" / "flowers"
    with pytest.raises(DissError, match="missing from this installation"):
        monkeypatch.setattr(folder, "__file__", str(tmp_path / "empty" / "diss" / "folder.py"))
        resolve_model(None)


def test_a_missing_extra_is_one_line_naming_it():
    require("json", "app", "x")  # present: nothing to say
    with pytest.raises(DissError, match=r"diss app needs no_such_module: pip install 'diss-diffusion\[app\]'"):
        require("no_such_module", "app", "diss app")


@pytest.mark.slow
def test_importing_diss_is_light_and_the_pipeline_is_one_attribute_away():
    code = "import sys, diss; assert 'torch' not in sys.modules; from diss import DiSSPipeline; print(DiSSPipeline)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "diss.pipeline.DiSSPipeline" in out
    assert (Path(folder.__file__).parent / "py.typed").is_file()


def test_a_folders_default_steps_are_read_from_its_diss_json_without_loading_it(tmp_path):
    from diss import defaults

    (tmp_path / "diss.json").write_text('{"defaults": {"steps": 30}}')
    assert folder.default_steps(tmp_path) == 30
    (tmp_path / "diss.json").write_text('{"domain": "landscapes"}')
    assert folder.default_steps(tmp_path) == defaults.STEPS  # none of its own: the project's
    (tmp_path / "diss.json").unlink()
    assert folder.default_steps(tmp_path) == defaults.STEPS  # a plain diffusers folder
    for bad, why in (
        ('{"defaults": 20}', '"defaults" must be an object'),
        ('{"defaults": {"steps": 0}}', "1 to 10,000"),
        ('{"defaults": {"steps": 1e3}}', "whole number"),
    ):
        (tmp_path / "diss.json").write_text(bad)
        with pytest.raises(DissError, match=why):
            folder.default_steps(tmp_path)
