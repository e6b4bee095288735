"""The warm runner's preload module: imported by its server process (and nowhere else), it
imports what every job needs (:func:`aistudio.worker.warm_child.preload`).

First of all, with the standard library alone (before the server spends a moment importing
anything), it asks the kernel to SIGKILL the server when the worker thread that started it
ends: a worker killed by SIGKILL cannot stop its server, which would otherwise import on for
seconds (CPU taken from the restarted worker and the web app) and then idle until its jobs end.
The jobs it forks do not inherit this (``fork`` clears it): they outlive it, as cold jobs outlive
their worker. Linux only (the warm runner's only platform); a worker killed in the first
milliseconds of its server's start is not noticed, and its server ends after its imports.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def _die_with_worker() -> None:
    worker = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != worker:
        os._exit(0)  # the worker died before the request took effect


_die_with_worker()

from aistudio.worker.warm_child import preload  # noqa: E402 - after the request above

preload()
