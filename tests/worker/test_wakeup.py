"""The worker's wake-up call: safe from signal handlers, where ``threading.Event`` deadlocks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from aistudio.worker.wakeup import Wakeup

REPO = Path(__file__).resolve().parents[2]

# The main thread waits and is woken in a tight loop while another thread fires SIGUSR1 at it
# every half millisecond; the handler wakes the waiter, as the worker's Ctrl-C handler does.
# With threading.Event in place of Wakeup (and a clear() after each wait) this breaks within a
# second: the handler, run on the main thread while that thread holds the event's lock, waits for
# that lock forever (then the nested handlers overflow the stack).
_SIGNAL_STORM = r"""
import os, signal, sys, threading, time
from aistudio.worker.wakeup import Wakeup

wakeup = Wakeup()
handled = 0

def on_signal(_signum, _frame):
    global handled
    handled += 1
    wakeup.set()

signal.signal(signal.SIGUSR1, on_signal)
done = False

def storm():
    while not done:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.0005)

thread = threading.Thread(target=storm, daemon=True)
thread.start()
woken = 0
deadline = time.monotonic() + 3.0
while time.monotonic() < deadline:
    woken += wakeup.wait(timeout=0)
    wakeup.set()
    woken += wakeup.wait(timeout=0.001)
done = True
thread.join()
print(handled, woken)
"""


def test_a_signal_handler_can_wake_the_waiter_at_any_moment() -> None:
    """Thousands of signals landing inside wait/set never freeze the waiting thread."""
    result = subprocess.run(
        [sys.executable, "-c", _SIGNAL_STORM],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    handled, woken = (int(n) for n in result.stdout.split())
    assert handled > 500, f"only {handled} signals reached the handler: the storm did not happen"
    assert woken > 500


def test_wait_times_out_without_a_wakeup() -> None:
    wakeup = Wakeup()
    started = time.monotonic()
    assert wakeup.wait(timeout=0.05) is False
    assert time.monotonic() - started >= 0.04
    wakeup.close()


def test_wakeups_given_before_the_wait_are_kept_and_then_cleared() -> None:
    wakeup = Wakeup()
    wakeup.set()
    wakeup.set()
    assert wakeup.wait(timeout=0) is True
    assert wakeup.wait(timeout=0) is False, "a wait clears every pending wake-up"
    wakeup.close()
    wakeup.close()


def test_another_thread_wakes_a_long_wait_at_once() -> None:
    wakeup = Wakeup()
    timer = threading.Timer(0.05, wakeup.set)
    started = time.monotonic()
    timer.start()
    assert wakeup.wait(timeout=10) is True
    assert time.monotonic() - started < 5
    timer.join()
    wakeup.close()


def test_many_wakeups_never_block_the_waker() -> None:
    """More wake-ups than the pipe holds: ``set`` neither blocks nor raises."""
    wakeup = Wakeup()
    for _ in range(200_000):
        wakeup.set()
    assert wakeup.wait(timeout=0) is True
    wakeup.close()
