"""The ``diss`` command line: parses arguments, runs the command, prints one clear line on error. The flags of train,
demo, app and evaluate are made from their config dataclasses (``diss.cli.args``); each command's body is a function of
its module in this package (``COMMANDS``), imported only when that command runs, here and nowhere else, so that
``diss --help`` and an argument error answer at once (no torch, diffusers or Gradio)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from diss import __version__, defaults
from diss.app.config import AppConfig
from diss.cli.args import add_config_args, add_sampling_args, domain_name, step_count
from diss.data.options import EXTRACT_ORDER, PREPARE_ORDER, ExtractOptions, PrepareOptions
from diss.demo.config import DemoConfig
from diss.errors import DissError, require
from diss.evaluate.config import EvalConfig, check_photo_folder
from diss.train.config import TrainConfig


class _Parser(argparse.ArgumentParser):
    """argparse with diss' error style: one line naming what was wrong and where to look, exit code 2."""

    def error(self, message: str):
        message = " ".join(message.split("\n"))  # one line, whatever the user typed
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _CommandParser(_Parser):
    """A command's parser: an argument it does not know is its error, pointing to its own help (``diss generate
    --help``), not to ``diss --help`` (where argparse would report it)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


#: the order of diss evaluate's first flags in its help (the others follow as EvalConfig declares them)
EVALUATE_FLAGS = ("model", "data", "out", "num", "sampler", "steps", "seed", "batch_size", "compile", "backend",
                  "verbose", "studies", "realism")  # fmt: skip


#: each command: the module of this package whose function of the command's name runs it, and what must hold before it
#: is imported (an extra installed, an argument checked without the heavy imports)
COMMANDS = {
    "prepare": ("data", None),
    "extract": ("data", None),
    "train": ("train", None),
    "export": ("train", None),
    "generate": ("generate", None),
    "edit": ("generate", None),
    "demo": ("demo", None),
    "app": ("app", lambda args: require("gradio", "app", "diss app")),
    "evaluate": ("evaluate", lambda args: check_photo_folder(args.data)),
}


def run_command(args: argparse.Namespace) -> int:
    """Check what the command needs, import its module (the one lazy import of the command line), run it."""
    module, check = COMMANDS[args.command]
    if check is not None:
        check(args)
    return int(getattr(importlib.import_module(f"diss.cli.{module}"), args.command)(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="diss", description="Sketch + colour strokes → realistic images (DiSS).")
    parser.add_argument("--version", action="version", version=f"diss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    p = sub.add_parser("prepare", help="extract sketch + strokes from a folder of photos into a training cache")
    p.add_argument("src", metavar="SRC_DIR", help="folder of photos (searched recursively; any common format)")
    p.add_argument("out", metavar="OUT_DIR", help="cache folder to create or resume")
    add_config_args(p, PrepareOptions, PREPARE_ORDER)

    p = sub.add_parser("extract", help="sketch and/or strokes of one photo or a folder of photos, as PNG")
    p.add_argument("input", metavar="IMAGE_OR_DIR")
    add_config_args(p, ExtractOptions, EXTRACT_ORDER)

    p = sub.add_parser("train", help="train a model on a cache (accelerate: CPU, GPU, multi-GPU, multi-node)")
    add_config_args(p, TrainConfig)
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("generate", help="images from a sketch and/or colour strokes")
    add_sampling_args(p)

    p = sub.add_parser("edit", help="regenerate the masked part of an image (white = regenerate)")
    p.add_argument("--image", required=True, metavar="I", help="image or folder to edit")
    p.add_argument("--mask", required=True, metavar="M", help="mask or folder: white = regenerate, black = keep")
    add_sampling_args(p)

    p = sub.add_parser("demo", help="realism sweep, scale grid and local editing on the shipped model (offline)")
    add_config_args(p, DemoConfig)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("app", help="the drawing app in the browser (Gradio, offline, localhost)")
    add_config_args(p, AppConfig)

    p = sub.add_parser("evaluate", help="FID/KID, sketch F1, stroke error, trade-off studies, SDEdit baseline")
    add_config_args(p, EvalConfig, EVALUATE_FLAGS)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("export", help="EMA weights of a run's newest checkpoint → a model folder")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--dtype", default="fp16", choices=["fp16", "fp32"])
    p.add_argument("--base", metavar="NAME|DIR", help="an upsampler run: the model it upsamples, exported with it as "
                   "one cascade folder (default: the run's --base, else flowers); a student run: its teacher's folder "
                   "(default: the run's --teacher)")  # fmt: skip
    p.add_argument("--fast-default", action="store_true", help="a student run: the folder runs its student unless "
                   "asked otherwise (for a student that keeps its teacher's quality, measured with diss evaluate "
                   "--fast)")  # fmt: skip
    p.add_argument("--domain", type=domain_name, metavar="NAME", help="what the model draws (e.g. landscapes), kept in "
                   "diss.json: the demo and the app show that domain's example drawings")  # fmt: skip
    p.add_argument("--steps", type=step_count, metavar="N", help="the model's default sampling steps, kept in "
                   f"diss.json: every command uses them unless given --steps (default: {defaults.STEPS}; a cascade "
                   "keeps its base's)")  # fmt: skip
    return parser


#: what to lower when a command runs out of memory
MEMORY_HINTS = {
    "generate": "lower --num/--batch-size",
    "edit": "lower --num/--batch-size",
    "evaluate": "lower --batch-size",
    "train": "lower --batch-size",
    "prepare": "lower --workers",
}


def _out_of_memory(e: BaseException) -> bool:
    """MemoryError, and PyTorch's own ways of saying the same (CUDA, and the CPU allocator's RuntimeError)."""
    return (
        isinstance(e, MemoryError)
        or type(e).__name__ == "OutOfMemoryError"
        or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))
    )


class _Stderr(logging.StreamHandler):
    """The library's log lines (``logging.getLogger("diss")``), as they are, on whatever sys.stderr is now."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler sets it once; sys.stderr is read at each line instead
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logger, handler = logging.getLogger("diss"), _Stderr()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        return run_command(args)
    except DissError as e:
        print(f"diss {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"diss {args.command}: interrupted; finished work is kept, run the same command again to go on",
            file=sys.stderr,
        )
        return 130
    except Exception as e:  # a bug, not bad input: still one line, with a way to get the details
        if os.environ.get("DISS_DEBUG"):
            raise
        if _out_of_memory(e):  # the machine's limit, never blamed on an input file
            hint = MEMORY_HINTS.get(args.command, "close other programs or use smaller inputs")
            print(f"diss {args.command}: error: out of memory: {hint}", file=sys.stderr)
            return 2
        print(
            f"diss {args.command}: unexpected error: {type(e).__name__}: {e} (set DISS_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    finally:
        logger.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
