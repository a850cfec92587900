"""The app's models by domain (``AppModels``): every shipped model, or the one ``--model`` names; the first is loaded
at start, the others when a job first needs them (never when a domain is only picked)."""

from __future__ import annotations

import threading

from diss.errors import DissError


class AppModels:
    """The domains the page offers, their example drawings, and their pipelines (loaded lazily, once)."""

    def __init__(self, model: str | None, backend: str):
        from diss.folder import SHIPPED_MODELS

        self.backend = backend
        self.names = list(SHIPPED_MODELS) if model is None else [str(model)]
        self.first = self.load(self.names[0])
        self.loaded = {}  # the others' pipelines, by domain, once loaded
        self._loading = threading.Lock()

    def load(self, domain: str):
        from diss.loading import load_pipeline

        pipe = load_pipeline(domain, backend=self.backend)
        pipe.set_progress_bar_config(disable=True)  # the page shows the progress
        return pipe

    def is_first(self, domain: str | None) -> bool:
        """None or "" mean the first domain, as does its name."""
        return not domain or domain == self.names[0]

    def get(self, domain: str | None = None):
        """The pipeline of ``domain`` (None or "": the first), loaded on first use."""
        if self.is_first(domain):
            return self.first
        self.check(domain)
        with self._loading:
            if domain not in self.loaded:
                self.loaded[domain] = self.load(domain)
        return self.loaded[domain]

    def check(self, domain: str | None) -> None:
        if domain and domain not in self.names:
            raise DissError(f"unknown domain {domain!r}: pick one of {', '.join(self.names)}")

    def steps(self, domain: str | None = None) -> int:
        """The sampling steps ``domain``'s model sets as its default (read from its diss.json, not loaded)."""
        from diss.folder import default_steps

        return default_steps(domain or self.names[0])

    def examples(self, domain: str | None = None) -> list[str]:
        """The example drawings offered with ``domain``."""
        from diss.folder import model_domain

        return list(model_domain(domain or self.names[0]).examples)
