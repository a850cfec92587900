"""Model folders: where the shipped ones are (a source checkout or an installed wheel), which folder ``--model``
names, the defaults a folder sets for itself (its sampling steps), and the checks made before a folder's weights are
read (configs parsed as JSON and bounded, safetensors only, SHA-256 sums of diss.json). Light: no torch, so the
command line resolves and refuses folders at once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from diss.conventions import BASE_IN_CHANNELS, STUDENT_IN_CHANNELS, UPSAMPLER_IN_CHANNELS
from diss.data.images import load_image
from diss.domains import DEFAULT_DOMAIN, DOMAINS, Domain, domain_of
from diss.errors import DissError
from diss.outputs import write_json

#: the shipped models, by domain name (diss.domains): the folder under pretrained/ each one names
SHIPPED_MODELS = {name: d.folder for name, d in DOMAINS.items()}
MAX_PARAMETERS = 2_000_000_000  # a U-Net config asking for more is refused before anything is allocated
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_UNET_BLOCKS = {"DownBlock2D", "AttnDownBlock2D", "UpBlock2D", "AttnUpBlock2D"}


def shipped_path(name: str) -> Path:
    """``pretrained`` or ``examples``: inside the installed package (a wheel carries them as package data), else at the
    root of the source checkout (an editable install). The one resolver for what diss ships."""
    package = Path(__file__).resolve().parent
    for candidate in (package / name, package.parents[1] / name):
        if candidate.is_dir():
            return candidate
    return package / name  # missing: callers say so in one line


SHIPPED_MODEL = shipped_path("pretrained") / SHIPPED_MODELS[DEFAULT_DOMAIN]
EXAMPLES = shipped_path("examples")


def load_example(name: str, folder: Path = EXAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """The (sketch, stroke) drawing ``name`` of the examples folder as uint8 RGB arrays."""
    try:
        return load_image(folder / f"{name}-sketch.png"), load_image(folder / f"{name}-stroke.png")
    except (OSError, ValueError) as e:
        raise DissError(f"example drawing {name} is missing or unreadable in {folder} ({e})") from None


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """The model folder that ``--model`` names: None or a shipped domain's name (``flowers``) → the shipped folder, else
    a path. Refused in one line when it is not a folder."""
    if spec is None or str(spec) in SHIPPED_MODELS:
        name = DEFAULT_DOMAIN if spec is None else str(spec)
        folder = shipped_path("pretrained") / SHIPPED_MODELS[name]
        if not folder.is_dir():
            raise DissError(
                f"the shipped model {name} ({folder}) is missing from this installation; pass --model DIR (a folder "
                "from diss export)"
            )
        return folder
    folder = Path(spec)
    if not folder.is_dir():
        names = ", ".join(SHIPPED_MODELS)
        raise DissError(f"model folder {folder} does not exist (give a folder from diss export, or one of: {names})")
    return folder


def model_domain(spec: str | os.PathLike | None) -> Domain:
    """The diss.domains.Domain of the model ``--model`` names, from its diss.json (read, not the weights): what the
    demo and the app show its example drawings by."""
    meta = resolve_model(spec) / "diss.json"
    return domain_of(read_json(meta) if meta.is_file() else {})


def model_steps(meta: dict, where: Path | str = "diss.json") -> int:
    """The sampling steps a model folder's diss.json sets as its own default (``"defaults": {"steps": N}``, written by
    ``diss export --steps N``), else ``defaults.STEPS``: what every command uses unless given ``--steps``. A bad value
    is refused in one line (checked on every load)."""
    from diss import defaults

    own = meta.get("defaults", {})
    if not isinstance(own, dict) or set(own) - {"steps"}:
        raise DissError(f'{where}: "defaults" must be an object such as {{"steps": 20}}, not {own!r}; export the model '
                        "again")  # fmt: skip
    steps = own.get("steps", defaults.STEPS)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= defaults.MAX_STEPS:
        raise DissError(f"{where}: its default steps must be a whole number, 1 to {defaults.MAX_STEPS:,}, not "
                        f"{steps!r}; export the model again with --steps N")  # fmt: skip
    return steps


def default_steps(spec: str | os.PathLike | None) -> int:
    """The sampling steps of the model ``--model`` names (``model_steps``), from its diss.json (read, not the
    weights): what the app's steps slider shows for its domain."""
    meta = resolve_model(spec) / "diss.json"
    return model_steps(read_json(meta) if meta.is_file() else {}, meta)


def read_json(path: Path) -> dict:
    """A JSON object from a model folder (parsed as data, never executed); DissError when missing or malformed."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DissError(f"{path} is missing: the model folder is incomplete") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DissError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise DissError(f"{path} must hold a JSON object, not {type(value).__name__}")
    return value


#: diss.json's format version: 2 holds the scheduler that steps (1: the training DDPM, replaced on load by the default)
FOLDER_VERSION = 2
#: what a model folder carries so that ``DiffusionPipeline.from_pretrained(folder, custom_pipeline=...)`` finds us
CUSTOM_PIPELINE_FILE = "pipeline.py"
CUSTOM_PIPELINE_CODE = (
    '"""DiSSPipeline for diffusers\' own loader: DiffusionPipeline.from_pretrained(folder, '
    'custom_pipeline=f"{folder}/pipeline.py", trust_remote_code=True). Needs `pip install diss-diffusion`."""\n\n'
    "from diss.pipeline import DiSSPipeline  # noqa: F401\n"
)


def forget_source_paths(folder: Path) -> None:
    """Drop the ``_name_or_path`` diffusers records in the configs of a pipeline loaded from disk: a saved folder does
    not carry the path of the one it came from (a user's home, a build machine's checkout)."""
    for path in [folder / "model_index.json", *folder.glob("*/config.json")]:
        config = json.loads(path.read_text(encoding="utf-8"))
        if config.pop("_name_or_path", None) is not None:
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def finish_folder(folder: Path, meta: dict, size: int, factor: int | None) -> None:
    """What diss adds to the folder diffusers saved: no source paths in its configs, the small ``pipeline.py`` through
    which diffusers' own loader finds DiSSPipeline, diss.json (``meta``, the training record, with the format, this
    version, what kind of upsampler it holds (``factor`` None: none) and the weights' SHA-256, checked on every load),
    and the user's usual permissions on the weights (safetensors writes them 0600)."""
    from diss import __version__, defaults

    forget_source_paths(folder)
    (folder / CUSTOM_PIPELINE_FILE).write_text(CUSTOM_PIPELINE_CODE, encoding="utf-8")
    meta = {"format": "diss-model", **meta, "version": FOLDER_VERSION, "diss": __version__}
    meta.pop("sha256", None)
    if factor is not None:  # what kind of upsampler this is, checked on every load (check_upsampler_record)
        meta.setdefault("size", size)
        record = {"trained_at": size * factor, **(meta.get("upsampler") or {})}
        meta["upsampler"] = {**record, "factor": factor, "formulation": defaults.UPSAMPLER_FORMULATION}
    if (folder / STUDENT_PART).is_dir():  # the teacher it was distilled from: this folder's unet, as saved with it
        unet = sorted((folder / "unet").glob("*.safetensors"))
        teacher = {p.relative_to(folder).as_posix(): sha256_file(p) for p in unet}
        meta[STUDENT_PART] = {**(meta.get(STUDENT_PART) or {}), "teacher_sha256": teacher}
    else:
        meta.pop(STUDENT_PART, None)
    write_sums(folder, meta)
    umask = os.umask(0o022)
    os.umask(umask)
    for path in folder.rglob("*.safetensors"):
        path.chmod(0o666 & ~umask)


#: a cascade folder's second stage (diss.upsampler): its U-Net and its scheduler, optional components of DiSSPipeline
UPSAMPLER_PARTS = ("upsampler", "upsampler_scheduler")
#: a folder's distilled student (diss.student), an optional component of DiSSPipeline beside the teacher's ``unet``
STUDENT_PART = "student"
#: the input channels of each network a model folder may hold
IN_CHANNELS = {"unet": BASE_IN_CHANNELS, "upsampler": UPSAMPLER_IN_CHANNELS, STUDENT_PART: STUDENT_IN_CHANNELS}


def check_unet_config(cfg: dict, folder: Path, sub: str = "unet") -> None:
    """Refuse U-Net configs that are not a DiSS model (``sub`` "unet") or upsampler ("upsampler") or would build an
    absurd network (e.g. a tampered file asking for millions of channels, which would exhaust memory before any
    weight is read)."""

    def bad(why: str):
        raise DissError(f"{folder / sub / 'config.json'}: {why}; this is not a diss model (re-export it)")

    def small_int(key: str, lo: int, hi: int) -> int:
        v = cfg.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            bad(f"{key} must be a whole number in [{lo}, {hi}], not {v!r}")
        return v

    if cfg.get("_class_name") != "UNet2DModel":
        bad(f"_class_name is {cfg.get('_class_name')!r}, not 'UNet2DModel'")
    channels = IN_CHANNELS[sub]
    if cfg.get("in_channels") != channels:
        bad(f"its U-Net takes {cfg.get('in_channels')!r} channels, not {channels} (image + sketch + strokes, + low "
            "image for an upsampler, + scales and steps for a student)")  # fmt: skip
    if cfg.get("out_channels") not in ((3, 6) if sub == "unet" else (3,)):
        bad(f"out_channels is {cfg.get('out_channels')!r}")
    if cfg.get("class_embed_type") not in (("timestep",) if sub == "upsampler" else (None,)):
        bad(f"class_embed_type is {cfg.get('class_embed_type')!r}")
    size = cfg.get("sample_size")
    size = size[0] if isinstance(size, list) and len(size) == 2 and size[0] == size[1] else size
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024 or size % 8:
        bad(f"sample_size must be a multiple of 8 in [8, 1024], not {cfg.get('sample_size')!r}")
    small_int("layers_per_block", 1, 8)
    small_int("norm_num_groups", 1, 256)
    channels, down, up = cfg.get("block_out_channels"), cfg.get("down_block_types"), cfg.get("up_block_types")
    if not isinstance(channels, list) or not 1 <= len(channels) <= 6:
        bad("block_out_channels must be a list of 1 to 6 numbers")
    if any(isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 2048 for c in channels):
        bad(f"block_out_channels must be whole numbers in [1, 2048], not {channels!r}")
    for name, blocks in (("down_block_types", down), ("up_block_types", up)):
        if not isinstance(blocks, list) or len(blocks) != len(channels) or not set(blocks) <= _UNET_BLOCKS:
            bad(f"{name} must list {len(channels)} of {', '.join(sorted(_UNET_BLOCKS))}")
    rough_params = 2 * 2 * 9 * cfg["layers_per_block"] * sum(c * c for c in channels)  # 3×3 convs, down and up
    if rough_params > MAX_PARAMETERS:
        bad(f"it asks for a network of ~{rough_params / 1e9:.0f}G parameters, more than any diss model")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksums(folder: Path) -> None:
    """Compare the files listed in diss.json's "sha256" with their sums: a truncated or altered file is refused."""
    meta_path = folder / "diss.json"
    if not meta_path.is_file():
        return  # a plain diffusers folder: the safetensors parser is the check
    sums = read_json(meta_path).get("sha256", {})
    if not isinstance(sums, dict):
        raise DissError(f"{meta_path}: 'sha256' must map file names to sums")
    for name, expected in sums.items():
        target = (folder / str(name)).resolve()
        if not target.is_relative_to(folder.resolve()) or not target.is_file():
            raise DissError(f"{folder}: {name} listed in diss.json is missing")
        if sha256_file(target) != expected:
            raise DissError(
                f"{folder / name} does not match its SHA-256 in diss.json: the file is damaged or was altered; "
                "restore it (e.g. git checkout, or export the model again)"
            )


def check_model_folder(folder: Path, variant: str | None = None) -> None:
    """Everything checked before a model folder's weights are read: its layout, safetensors weights (pickled ones are
    refused, never opened), the U-Net config's bounds, the scheduler config as JSON, and the sums of diss.json."""
    if not (folder / "model_index.json").is_file() or not (folder / "unet").is_dir():
        raise DissError(f"{folder} is not a diss model folder (no model_index.json and unet/)")
    index = read_json(folder / "model_index.json")
    networks = ["unet"] + [sub for sub in (UPSAMPLER_PARTS[0], STUDENT_PART) if (index.get(sub) or [None])[0]]
    pattern = f"*.{variant}.safetensors" if variant else "*.safetensors"
    for sub in networks:
        if not (folder / sub).is_dir() or not list((folder / sub).glob(pattern)):
            pickled = [p.name for p in (folder / sub).glob("*") if p.suffix in PICKLE_SUFFIXES]
            extra = f" (found {', '.join(pickled)}: pickled weights are never loaded)" if pickled else ""
            what = f"{variant} variant " if variant else ""
            raise DissError(f"{folder / sub} holds no {what}.safetensors weights{extra}")
        check_unet_config(read_json(folder / sub / "config.json"), folder, sub)
    read_json(folder / "scheduler" / "scheduler_config.json")
    if (folder / "diss.json").is_file():
        model_steps(read_json(folder / "diss.json"), folder / "diss.json")
    if UPSAMPLER_PARTS[0] in networks:
        read_json(folder / "upsampler_scheduler" / "scheduler_config.json")
        check_upsampler_record(folder)
    if STUDENT_PART in networks:
        check_student_record(folder)
    verify_checksums(folder)


def check_student_record(folder: Path) -> None:
    """A folder's student must say in diss.json which teacher it was distilled from (the SHA-256 of ``unet/``'s
    weights, written with it by ``finish_folder``), and that teacher must be the folder's ``unet``: a student beside
    another teacher would give wrong images, not an error."""
    meta = read_json(folder / "diss.json") if (folder / "diss.json").is_file() else {}
    record = meta.get(STUDENT_PART)
    teacher = record.get("teacher_sha256") if isinstance(record, dict) else None
    sums = {k: v for k, v in (meta.get("sha256") or {}).items() if str(k).startswith("unet/")}
    if not isinstance(teacher, dict) or not teacher or teacher != sums:
        raise DissError(f"{folder}: its student was not distilled from this folder's unet (diss.json's student record "
                        "does not name these weights); export the student again from its run with this teacher")


def check_upsampler_record(folder: Path) -> None:
    """A cascade folder's diss.json must say its upsampler is this version's kind (a factor of
    defaults.UPSAMPLER_FACTORS, the formulation UPSAMPLER_FORMULATION): another factor or formulation would give wrong
    images, not an error. (The size of the photos it was trained on may differ from the base's × factor: it is fully
    convolutional, trained on crops.)"""
    from diss import defaults

    if not (folder / "diss.json").is_file():
        raise DissError(f"{folder}: a cascade folder needs its diss.json (what its upsampler is); export it again")
    meta = read_json(folder / "diss.json")
    record = meta.get("upsampler")
    record = record if isinstance(record, dict) else {}
    factor, formulation = record.get("factor"), record.get("formulation")
    known = type(factor) is int and factor in defaults.UPSAMPLER_FACTORS
    if not known or formulation != defaults.UPSAMPLER_FORMULATION:
        factors = " or ".join(f"{f}×" for f in defaults.UPSAMPLER_FACTORS)
        raise DissError(
            f"{folder}: its upsampler is of factor {factor!r} and formulation {formulation!r}; this diss runs "
            f"{factors} upsamplers of formulation {defaults.UPSAMPLER_FORMULATION!r}: export the run again with this "
            "version"
        )


def write_sums(folder: Path, meta: dict) -> None:
    """diss.json in ``folder``: ``meta`` with the SHA-256 of every weights file, checked on every load."""
    weights = sorted(p for p in folder.rglob("*.safetensors") if p.is_file())
    meta = {**meta, "sha256": {p.relative_to(folder).as_posix(): sha256_file(p) for p in weights}}
    write_json(folder / "diss.json", meta)


@contextlib.contextmanager
def quiet_loading():
    """diffusers' loader without its progress bar and its notes (a model folder loads in a fraction of a second)."""
    from diffusers.utils import logging as diffusers_logging

    bars = diffusers_logging.is_progress_bar_enabled()
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)
        if bars:
            diffusers_logging.enable_progress_bar()
