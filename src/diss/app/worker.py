"""How the app runs a sampling job: on the model one job at a time (``ModelLock``: previews give way to the others),
in a worker thread that streams its steps and stops on Stop, on a closed page or after the time limit (``stream``);
``digest`` keys a preview by what it is made from."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import queue
import threading
import time

import numpy as np

from diss.errors import DissError


def digest(*parts) -> str:
    """A key for what a preview is made from: arrays by their shape and bytes, anything else by its repr."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(repr((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()


class Stopped(Exception):
    pass


class ModelLock:
    """One sampling job on the model at a time, whatever the queue does; ``waiting`` counts the jobs waiting for it,
    to which a preview gives way."""

    def __init__(self):
        self._lock = threading.Lock()
        self._waiting_lock = threading.Lock()
        self.waiting = 0

    @contextlib.contextmanager
    def hold(self):
        """Hold the model for a job, however long it takes to get it."""
        with self._waiting_lock:
            self.waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._waiting_lock:
                self.waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    @contextlib.contextmanager
    def hold_if_free(self):
        """Hold the model if it is free and no job waits for it (a preview); yields whether it is held."""
        if self.waiting or not self._lock.acquire(blocking=False):
            yield False
            return
        try:
            yield True
        finally:
            self._lock.release()


def stream(work, timeout_s: float):
    """Run ``work(step_callback)`` in a worker thread; yield ("step", i) per sampling step, then ("done", result),
    ("stopped", reason) or ("error", message). Closing the generator (Stop, a closed page) stops the worker at its
    next step, and so does the time limit."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def callback(_pipe, i, _t, data):
        if stop.is_set():
            raise Stopped
        events.put(("step", i))
        return data

    def worker():
        try:
            events.put(("done", work(callback)))
        except Stopped:
            events.put(("stopped", "stopped"))
        except DissError as e:
            events.put(("error", str(e)))
        except Exception as e:  # a bug: one line in the page, the app goes on
            events.put(("error", f"unexpected error: {type(e).__name__}: {e}"))

    context = contextvars.copy_context()  # so that Gradio's progress tracker sees the sampler's tqdm bar
    threading.Thread(target=context.run, args=(worker,), daemon=True).start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if time.monotonic() > deadline:
                stop.set()
                yield "error", f"stopped: the job ran longer than the app's limit of {timeout_s:g} s"
                return
            try:
                kind, value = events.get(timeout=0.25)
            except queue.Empty:
                continue
            yield kind, value
            if kind != "step":
                return
    finally:
        stop.set()
