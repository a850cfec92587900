"""The training tests' small cache: four photos at 32 px."""

import pytest
from PIL import Image

from diss.data.cache import PrepareConfig, prepare


@pytest.fixture(scope="module")
def cache(tmp_path_factory, photos):
    src = tmp_path_factory.mktemp("src")
    for name, rgb in list(photos.items())[:4]:
        Image.fromarray(rgb).save(src / f"{name}.png")
    out = tmp_path_factory.mktemp("cache")
    prepare(src, out, PrepareConfig(size=32), workers=1, progress=False)
    return out
