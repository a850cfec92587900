"""The settings of ``diss app`` (``AppConfig``), decided here once for the app and its command line.

This module imports nothing heavy (no numpy, torch or gradio), so that ``diss --help`` builds the parser at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from diss import defaults
from diss.options import BACKEND_HELP, MODEL_HELP, opt


@dataclass
class AppConfig:
    """The app's limits and where it listens; the fields made with ``opt`` are ``diss app``'s flags."""

    model: str | None = opt(None, MODEL_HELP, metavar="NAME|DIR")  # None: the default domain's shipped model
    host: str = opt("127.0.0.1", "address to listen on (default %(default)s: this machine only)")
    port: int = opt(7860, None, "positive")
    max_upload_mb: float = opt(10.0, "largest upload (default 10)", "positive_float", metavar="MB")
    max_upload_pixels: int = 16_000_000
    # jobs waiting; more are refused with "queue is full"
    max_queue: int = opt(16, "jobs that may wait (default 16)", "positive", metavar="QUEUE", flag="--queue")
    concurrency: int = 1  # jobs sampling at once
    # a job still sampling after this is stopped
    timeout_s: float = opt(300.0, "stop a job after S seconds (default 300)", "positive_float", metavar="S",
                           flag="--timeout")  # fmt: skip
    max_images: int = 8
    max_steps: int = 250
    # where the U-Net runs: auto, torch or openvino (DiSSPipeline.to_best_device)
    backend: str = opt(defaults.BACKEND, BACKEND_HELP, choices=defaults.BACKENDS)
