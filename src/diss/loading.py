"""Loading a model for the command line, the demo, the app and ``diss evaluate``: one place that resolves its name,
picks the device and the backend and says which (torch is imported only when a model is actually loaded)."""

from __future__ import annotations

import logging
import os

from diss import defaults

log = logging.getLogger(__name__)


def announce_backend(pipe, verbose: bool = False) -> None:
    """Log ``pipe.backend_note`` when asked (``--verbose``), and always (a warning) when the backend fell back."""
    note = getattr(pipe, "backend_note", None)
    if note and getattr(pipe, "backend_fallback", False):
        log.warning(note)
    elif note and verbose:
        log.info(note)


def load_pipeline(model: str | os.PathLike | None, backend: str = defaults.BACKEND, verbose: bool = False):
    """``DiSSPipeline.from_pretrained`` of ``model`` (a shipped model's name, a folder, or None: the default; resolved
    by ``folder.resolve_model``) on the best device with ``backend`` (one of ``defaults.BACKENDS``)."""
    from diss.folder import resolve_model
    from diss.pipeline import DiSSPipeline

    pipe = DiSSPipeline.from_pretrained(resolve_model(model)).to_best_device(backend=backend)
    announce_backend(pipe, verbose)
    return pipe
