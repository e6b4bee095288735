"""A warm runner preload module that never finishes importing (the tests stop a runner that is
still warming up). Imported only by a warm runner's server process."""

from __future__ import annotations

import time

time.sleep(600)
