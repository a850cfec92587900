"""`diss app`: the drawing app in the browser (``diss.app``)."""

from __future__ import annotations

from diss.app import layout
from diss.app.config import AppConfig
from diss.cli.args import config_from_args
from diss.errors import DissError


def app(args) -> int:
    if not (args.max_upload_mb > 0 and args.timeout_s > 0):
        raise DissError("--max-upload-mb and --timeout must be positive")
    config = config_from_args(AppConfig, args)
    print(f"diss app on http://{config.host}:{config.port} (Ctrl-C to stop)")
    try:
        layout.launch(config)
    except OSError as e:
        where = f"{config.host}:{config.port}"
        raise DissError(f"cannot listen on {where} ({e.strerror or e}); choose another --port") from None
    return 0
