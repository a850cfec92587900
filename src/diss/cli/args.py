"""The command line's argument types (each refuses a bad value in one line), the flag groups several commands share,
and the flags made from a config dataclass (``add_config_args``, from the fields declared with ``diss.options.opt``).

Imports nothing heavy: the parser is built from it before any command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from pathlib import Path

from diss import defaults
from diss.batches import SWEEPABLE, BatchConfig
from diss.options import BACKEND_HELP, COMPILE_HELP, MODEL_HELP, VERBOSE_HELP


def step_count(text: str) -> int:
    value = positive_int(text)
    if value > defaults.MAX_STEPS:
        raise argparse.ArgumentTypeError(f"{text!r} steps is more than the {defaults.MAX_STEPS:,} a sampler can take")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def unit_float(text: str) -> float:
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is outside [0, 1]")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def scale_arg(text: str):
    """A guidance scale: a number in [0, MAX_GUIDANCE_SCALE], or the path of a grayscale map (white = 1, black = 0)."""
    try:
        value = float(text)
    except ValueError:
        if not Path(text).is_file():
            raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor an image file") from None
        return Path(text)
    if not 0.0 <= value <= defaults.MAX_GUIDANCE_SCALE:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is outside [0, {defaults.MAX_GUIDANCE_SCALE:g}]")
    return value


def realism_arg(text: str):
    """A realism in [0, 1], or none/off."""
    return None if text.lower() in ("none", "off") else unit_float(text)


def domain_name(text: str) -> str:
    """A model's domain: a short lower-case name (letters, digits, - and _), as the shipped ones (diss.domains)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a domain name: lower-case letters, digits, - or _, e.g. "
                                         "landscapes")  # fmt: skip
    return text


def sweep_arg(text: str):
    name, _, values = text.partition("=")
    if name not in SWEEPABLE or not values:
        raise argparse.ArgumentTypeError(f"--sweep takes NAME=V1,V2,... with NAME one of {', '.join(SWEEPABLE)}")
    try:
        parsed = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sweep values {values!r} must be numbers") from None
    if not parsed:
        raise argparse.ArgumentTypeError(f"--sweep {text!r} names no values; e.g. {name}=0,0.5,1")
    return name, parsed


# ---------------------------------------------------------------------------------------------------- flag groups


def add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=defaults.BACKEND, choices=defaults.BACKENDS, help=BACKEND_HELP)
    p.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sketch", metavar="S", help="sketch image or folder (dark lines on white, or white on black)")
    p.add_argument("--stroke", metavar="C", help="colour strokes image or folder (on white or transparent)")
    p.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    add_config_args(p, BatchConfig)
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    add_backend_args(p)
    p.add_argument(
        "--out",
        required=True,
        help="image file for file inputs (.png, .jpg, .webp, .bmp or .tif; a grid when --num > 1 or --sweep) or "
        "folder for folder inputs (one PNG per input)",
    )
    p.add_argument("--quiet", action="store_true")


# ---------------------------------------------------------------------------------------------------- config flags

#: ``opt``'s kinds → argument types
KINDS = {
    "positive": positive_int,
    "positive_float": positive_float,
    "unit": unit_float,
    "finite": finite_float,
    "int": int,
    "steps": step_count,
    "scale": scale_arg,
    "realism": realism_arg,
    "sweep": sweep_arg,
    None: str,
}
#: kinds whose flag may give None as a value (realism "none": off), not only leave it unset
NULLABLE = ("realism",)


def _flag_fields(cls) -> list[dataclasses.Field]:
    """The fields of the config dataclass ``cls`` that are flags: declared with ``opt``, and not ``cli=False``."""
    return [f for f in dataclasses.fields(cls) if f.metadata and f.metadata.get("cli", True)]


def add_config_args(p: argparse.ArgumentParser, cls, order: tuple[str, ...] = ()) -> None:
    """One flag per field of the config dataclass ``cls`` declared with ``diss.options.opt`` (its default, kind, help,
    choices): those of the fields named in ``order`` first, in that order, then the others as declared."""
    by_name = {f.name: f for f in _flag_fields(cls)}
    for f in [by_name.pop(name) for name in order] + list(by_name.values()):
        meta = {k: v for k, v in f.metadata.items() if k != "cli"}
        name = meta.pop("flag", "--" + f.name.replace("_", "-"))
        kind, text = meta.pop("kind", None), meta.pop("help", None)
        if f.default is dataclasses.MISSING:
            p.add_argument(name, dest=f.name, required=True, help=text, **meta)
        elif isinstance(f.default, bool):
            flag = name if not f.default else "--no-" + name[2:]
            p.add_argument(flag, dest=f.name, action="store_false" if f.default else "store_true", help=text)
        else:
            p.add_argument(name, dest=f.name, type=KINDS[kind], default=f.default, help=text, **meta)


def config_from_args(cls, args: argparse.Namespace):
    """The config dataclass ``cls`` from the flags ``add_config_args`` made (a flag left at None: the field's default,
    except for the NULLABLE kinds; the values of a flag taking several: a tuple)."""
    values = {}
    for f in _flag_fields(cls):
        value = getattr(args, f.name, None)
        if value is not None or (f.metadata.get("kind") in NULLABLE and hasattr(args, f.name)):
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
