"""The settings of ``diss prepare`` and ``diss extract`` as config dataclasses, their fields the commands' flags.

Light (no numpy or OpenCV): read while ``diss --help`` builds its parser. ``extractors()`` gives the extractors'
configs (data.sketch.SketchConfig, data.stroke.StrokeConfig) and ``prepare_config()`` the cache's (data.cache)."""

from __future__ import annotations

from dataclasses import dataclass

from diss import defaults
from diss.options import opt


@dataclass
class ExtractorKnobs:
    """The extractors' knobs a user sets (flags of ``diss prepare`` and ``diss extract``, after their own)."""

    sketch_detail: float = opt(defaults.SKETCH_DETAIL, "0 = main outlines only, 1 = many interior lines (default "
                               "%(default)s)", "unit", metavar="F")  # fmt: skip
    stroke_detail: float = opt(defaults.STROKE_DETAIL, "0 = a few large brush strokes, 1 = many smaller ones (default "
                               "%(default)s)", "unit", metavar="F")  # fmt: skip
    seed: int = opt(0, "seed of the stroke painter (default %(default)s)", "int")

    def extractors(self):
        """(SketchConfig, StrokeConfig) with these knobs."""
        from diss.data.sketch import SketchConfig
        from diss.data.stroke import StrokeConfig

        return SketchConfig(detail=self.sketch_detail), StrokeConfig(detail=self.stroke_detail)


@dataclass
class ExtractOptions(ExtractorKnobs):
    """``diss extract``'s flags (the input is its positional argument)."""

    sketch_out: str | None = opt(None, "PNG file (one image) or folder (a folder of images)", metavar="PATH")
    stroke_out: str | None = opt(None, "PNG file (one image) or folder (a folder of images)", metavar="PATH")
    size: int = opt(128, "side of the square outputs (default %(default)s)", "positive")
    quiet: bool = opt(False, None)


@dataclass
class PrepareOptions(ExtractorKnobs):
    """``diss prepare``'s flags (the folders are its positional arguments): the cache's content (``prepare_config``)
    and how it is made."""

    size: int = opt(defaults.PREPARE_SIZE, "side of the square training images (default %(default)s)", "positive")
    preview: str | None = opt(None, "write a grid of examples: photo | sketch | stroke", metavar="PNG")
    preview_rows: int = opt(8, None, "positive", metavar="N")
    workers: int | None = opt(None, "processes (default: all cores)", "positive")
    allow_upscale: bool = opt(False, "use photos smaller than --size (upscaled)")
    overwrite: bool = opt(False, "rebuild a cache made with other settings")
    quiet: bool = opt(False, "no progress bar")

    def prepare_config(self):
        """The data.cache.PrepareConfig these flags ask for."""
        from diss.data.cache import PrepareConfig

        sketch, stroke = self.extractors()
        return PrepareConfig(
            size=self.size, seed=self.seed, sketch=sketch, stroke=stroke, allow_upscale=self.allow_upscale
        )


#: each command's own flags first in --help, then the knobs
EXTRACT_ORDER = ("sketch_out", "stroke_out", "size", "quiet")
PREPARE_ORDER = ("size", "preview", "preview_rows", "workers", "allow_upscale", "overwrite", "quiet")
