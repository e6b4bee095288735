"""Stack dumps on request: ``kill -USR1 PID`` prints every thread's stack of a long-lived process.

``serve``, the worker and job processes enable it, so a process that seems stuck can be asked
where it is without stopping it (the tests do this before killing a process that did not stop).
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading

DUMP_SIGNAL = signal.SIGUSR1


def enable_stack_dumps() -> None:
    """Print all threads' stacks to stderr on ``SIGUSR1`` (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        faulthandler.register(DUMP_SIGNAL, file=sys.stderr, all_threads=True, chain=False)
    except (AttributeError, ValueError, OSError, RuntimeError):  # no usable stderr, or no SIGUSR1
        return
