"""What a training run will take, what this machine can give it, and the guard that holds it.

Torch-free at import: the web process (the Training form, through :mod:`aistudio.commands`)
uses the estimate and the memory probe; the job uses all of it.

* :func:`estimate_run` — peak memory and time per epoch of a configuration, before anything
  is allocated: the task's measured cost of its model (:meth:`aistudio.tasks.base.Task.
  training_cost`, from the table in :mod:`aistudio.tasks.costs`) plus what the pipeline adds
  (the job process itself, the decoded-image cache, the data loader workers and their
  prefetched batches), on this machine's CPU threads or GPU.
* :func:`memory_state` — memory this machine can give a job: ``MemAvailable`` of
  ``/proc/meminfo``, lowered by a cgroup limit (v2 ``memory.max``, v1
  ``memory.limit_in_bytes``, page cache that can be reclaimed counted as free) and by
  :data:`LIMIT_ENV`.
* :func:`check_run` — the estimate against that memory: refuse what cannot fit, warn about
  what may not fit now or would take hours (:class:`ResourceCheck`).
* :class:`RunGuard` — a thread beside a running job that stops it, within a second or two, when
  a cancel is requested or when the machine's free memory falls under a floor: it sets a stop
  that the run checks at every batch end and before every module of a forward pass and every
  gradient of a backward pass (global module hooks), and, when the run does not get there
  within :data:`SIGNAL_AFTER_S`, interrupts the main thread with :data:`STOP_SIGNAL`.

Environment (documented knobs; the tests use them to fake a small machine):

* ``AISTUDIO_MEMORY_LIMIT_MB`` (:data:`LIMIT_ENV`): at most this many MB (10**6 bytes) for a
  training job, as if a cgroup limit were set: the estimate must fit in it, and the guard stops
  a job whose processes hold more than it less the floor.
* ``AISTUDIO_MEMORY_FLOOR_MB`` (:data:`FLOOR_ENV`): the free memory under which the guard stops
  a job (default :func:`memory_floor`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aistudio.tasks.base import TargetInfo, Task
    from events import EventLog

logger = logging.getLogger(__name__)

GB = 1 << 30
"""Memory is shown in GB of 2**30 bytes, as system monitors (``free -g``, htop) show it."""
CACHE_BUDGET_BYTES = 1 << 30
"""Decoded images of a run are kept in memory when they take at most this many bytes."""
LOADER_PREFETCH = 4
"""Batches each data loader worker prepares ahead (``DataLoader(prefetch_factor=…)``)."""
JOB_PROCESS_MB = 810.0
"""RSS of a job process before its data and model: Python, torch, Lightning, AI Studio
(measured by ``python -m bench resources``: the median over its measuring processes)."""
PIPELINE_MB = 80.0
"""What the rest of a real job holds beside the model's step: Lightning's trainer, the dataset
view, the checkpoint being serialised (the bench's whole-job check: ResNet-18, 128 px, batch
16 peaked at 1.33 GB, 0.03 GB above the process plus the step)."""
LOADER_WORKER_MB = 150.0
"""Memory a data loader worker holds of its own (a forked job process: mostly shared pages)."""
FIT_OVERHEAD = 1.15
"""Margin on the model's measured step memory for what Lightning and the allocator add in a
real job (the bench's whole-job check measures it)."""
LONG_RUN_S = 3600.0
"""A run estimated to take longer than this is announced as one that takes hours."""
LIMIT_ENV = "AISTUDIO_MEMORY_LIMIT_MB"
FLOOR_ENV = "AISTUDIO_MEMORY_FLOOR_MB"
STOP_SIGNAL = signal.SIGUSR2
"""Sent by the guard to its own main thread when a stop was not honoured in time."""
SIGNAL_AFTER_S = 2.0
"""Seconds the guard waits for the run to reach a check before it interrupts the main thread."""
GUARD_POLL_S = 0.25
CANCEL_POLL_S = 0.5

_MEMINFO = Path("/proc/meminfo")
_CGROUP_V2 = Path("/sys/fs/cgroup")
_CGROUP_V1 = Path("/sys/fs/cgroup/memory")
_NO_LIMIT = 1 << 60


# ---------------------------------------------------------------------- words
def gb_text(size_bytes: float) -> str:
    """``1.4 GB``, ``12 GB``, ``0.3 GB`` (2**30 bytes)."""
    value = size_bytes / GB
    return f"{value:.1f} GB" if value < 10 else f"{value:.0f} GB"


def duration_text(seconds: float) -> str:
    """``40 s``, ``3 min``, ``2 h 10 min``: a rough duration for an estimate."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"


# ---------------------------------------------------------------------- the machine
@dataclass(frozen=True)
class MemoryState:
    """Memory this machine can give a job (bytes).

    Attributes:
        total: the most it could ever give (RAM, or a lower cgroup or configured limit).
        available: what it could give now (free and reclaimable memory, within the limits).
        limit: the cgroup's or :data:`LIMIT_ENV`'s limit, when one is set (else None).
        source: where the figures come from, in words.
    """

    total: int
    available: int
    limit: int | None = None
    source: str = "/proc/meminfo"


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = _MEMINFO.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name] = int(parts[0]) * 1024
    return out


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return _NO_LIMIT
    return int(text) if text.isdigit() else None


def _stat_value(path: Path, *names: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        key, _, value = line.partition(" ")
        if key in names and value.strip().isdigit():
            return int(value)
    return 0


def cgroup_memory() -> tuple[int, int] | None:
    """``(limit, usage less reclaimable page cache)`` of this process's cgroup, when it has a
    memory limit (v2, else v1); None otherwise."""
    for limit_file, usage_file, stat_names, root in (
        ("memory.max", "memory.current", ("inactive_file",), _CGROUP_V2),
        ("memory.limit_in_bytes", "memory.usage_in_bytes", ("total_inactive_file",), _CGROUP_V1),
    ):
        limit = _read_int(root / limit_file)
        usage = _read_int(root / usage_file)
        if limit is None or usage is None or limit >= _NO_LIMIT:
            continue
        reclaimable = _stat_value(root / "memory.stat", *stat_names)
        return limit, max(0, usage - reclaimable)
    return None


def _env_mb(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        logger.warning("%s=%r is not a number of MB: ignored", name, raw)
        return None
    return int(value * 1e6) if value > 0 else None


def memory_state() -> MemoryState:
    """What this machine can give a job now (see :class:`MemoryState`)."""
    info = _meminfo()
    total = info.get("MemTotal", 0)
    available = info.get("MemAvailable", info.get("MemFree", 0))
    limit: int | None = None
    source = "/proc/meminfo"
    group = cgroup_memory()
    if group is not None and group[0] < (total or _NO_LIMIT):
        limit, used = group
        total = min(total, limit) if total else limit
        available = min(available, max(0, limit - used)) if available else limit - used
        source = "cgroup memory limit"
    configured = _env_mb(LIMIT_ENV)
    if configured is not None and configured < (total or _NO_LIMIT):
        limit = configured
        total = configured
        available = min(available, configured) if available else configured
        source = LIMIT_ENV
    return MemoryState(total=total, available=available, limit=limit, source=source)


def memory_reserve(total: int) -> int:
    """Memory a job's estimate must leave free for the system and the app (5 %, 512 MB least)."""
    return max(512 * 1024 * 1024, int(0.05 * total))


def memory_floor(total: int) -> int:
    """The free memory under which the guard stops a job (half the reserve; or
    :data:`FLOOR_ENV`)."""
    configured = _env_mb(FLOOR_ENV)
    if configured is not None:
        return configured
    return memory_reserve(total) // 2


def cpu_threads() -> int:
    """CPU threads a job's torch uses: ``OMP_NUM_THREADS`` when set, else the usable CPUs."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def gpu_count() -> int:
    """NVIDIA GPUs a job may use, torch-free (the driver's ``/proc`` entries, and
    ``CUDA_VISIBLE_DEVICES``)."""
    folder = Path("/proc/driver/nvidia/gpus")
    try:
        found = len(list(folder.iterdir()))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        found = min(found, len(wanted))
    return found


@dataclass(frozen=True)
class MachineFacts:
    """Where a run would train, as the estimate needs it.

    Attributes:
        accelerator: ``cpu`` or ``gpu``.
        threads: CPU threads (the estimate scales the table's times by them).
        memory: what the machine can give the job.
    """

    accelerator: str
    threads: int
    memory: MemoryState

    @property
    def description(self) -> str:
        """``cpu, 2 threads`` or ``gpu``."""
        if self.accelerator == "gpu":
            return "gpu"
        return f"cpu, {self.threads} thread{'s' if self.threads != 1 else ''}"


def machine_facts(
    accelerator: str = "auto", threads: int | None = None, memory: MemoryState | None = None
) -> MachineFacts:
    """This machine for a run asking for ``accelerator`` (``auto`` takes a GPU when present)."""
    use_gpu = accelerator == "gpu" or (accelerator == "auto" and gpu_count() > 0)
    return MachineFacts(
        "gpu" if use_gpu else "cpu",
        threads if threads is not None else cpu_threads(),
        memory if memory is not None else memory_state(),
    )


# ---------------------------------------------------------------------- the estimate
@dataclass(frozen=True)
class ResourceEstimate:
    """What a run will take on a machine, estimated before it starts.

    Attributes:
        peak_bytes: the job's peak memory (its processes together); None without figures.
        epoch_s: seconds per epoch (training and validation); None when unknown (no figures
            for the model, or a GPU, whose time the table does not hold).
        parameters: the network's parameters with this run's head; None without figures.
        machine: where, in words (``cpu, 2 threads``).
        parts: the memory by part (``job process``, ``model and batch``, ``decoded images``,
            ``data loader workers``), bytes, for people who want to see why.
        image_size: the run's image size (for advice).
        batch_size: its batch size (for advice).
    """

    peak_bytes: int | None
    epoch_s: float | None
    parameters: int | None
    machine: str
    parts: tuple[tuple[str, int], ...] = ()
    image_size: int = 0
    batch_size: int = 0

    @property
    def summary(self) -> str:
        """``about 1.4 GB, about 3 min per epoch on this machine (cpu, 2 threads)``."""
        if self.peak_bytes is None:
            return f"no measured figures for this model on this machine ({self.machine})"
        memory = f"about {gb_text(self.peak_bytes)}"
        if self.epoch_s is None:
            return f"{memory} of memory on this machine ({self.machine}); time per epoch unknown"
        per_epoch = f"about {duration_text(self.epoch_s)} per epoch"
        return f"{memory}, {per_epoch} on this machine ({self.machine})"


def _get(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def _augments(config: Any) -> bool:
    augmentations = _get(config, "augmentations")
    if augmentations is None:
        return True  # the task's defaults: assume some
    values = augmentations if isinstance(augmentations, dict) else augmentations.model_dump()
    return any(bool(v) for v in values.values())


def estimate_run(
    task: Task,
    config: Any,
    train_images: int,
    val_images: int,
    info: TargetInfo,
    machine: MachineFacts,
) -> ResourceEstimate:
    """The peak memory and epoch time of training ``config`` on ``machine``.

    Args:
        task: the project's task (its models' measured costs).
        config: the training config (a dict or :class:`events.schemas.training.TrainingConfig`).
        train_images: images of the train subset.
        val_images: images of the validation subset.
        info: the targets' information (the head's size).
        machine: where it runs (:func:`machine_facts`).
    """
    model = str(_get(config, "model"))
    size = int(_get(config, "image_size", 0))
    batch = max(1, int(_get(config, "batch_size", 1)))
    cost = task.training_cost(model, size, batch, train_images, val_images, info)
    if cost is None:
        return ResourceEstimate(None, None, None, machine.description, (), size, batch)
    images = train_images + val_images
    image_bytes = 3 * size * size
    cache = images * image_bytes if images * image_bytes <= CACHE_BUDGET_BYTES else 0
    workers = min(int(_get(config, "num_workers", 0)), cpu_threads())
    if cache and not _augments(config):
        workers = 0  # cached, unaugmented images are read in the main process
    loaders = int(workers * (LOADER_WORKER_MB * 1e6 + LOADER_PREFETCH * batch * image_bytes))
    process = int((JOB_PROCESS_MB + PIPELINE_MB) * 1e6)
    if machine.accelerator == "gpu":
        # The step's activations live on the GPU; the job process holds the weights once.
        step_bytes = int(cost.memory_bytes - cost.batch_bytes)
    else:
        step_bytes = int(cost.memory_bytes * FIT_OVERHEAD)
    parts = (
        ("job process", process),
        ("model and batch", step_bytes),
        ("decoded images", cache),
        ("data loader workers", loaders),
    )
    epoch_s: float | None = None
    if machine.accelerator == "cpu":
        from aistudio.tasks.costs import REFERENCE_THREADS

        epoch_s = cost.epoch_s * REFERENCE_THREADS / max(1, machine.threads)
    return ResourceEstimate(
        peak_bytes=sum(b for _, b in parts),
        epoch_s=epoch_s,
        parameters=cost.parameters,
        machine=machine.description,
        parts=tuple((name, b) for name, b in parts if b),
        image_size=size,
        batch_size=batch,
    )


# ---------------------------------------------------------------------- the verdict
@dataclass(frozen=True)
class ResourceCheck:
    """An estimate against this machine's memory, and the run's length.

    Attributes:
        estimate: the run's estimate.
        memory: the machine's memory when checked.
        epochs: the run's epochs (its length).
        fits_machine: whether the machine could ever give it the memory (its total, less the
            reserve).
        fits_now: whether the memory free now is enough (less the reserve).
        advice: a smaller batch size or image size that fits, in words (empty when it fits or
            none does).
    """

    estimate: ResourceEstimate
    memory: MemoryState
    epochs: int
    fits_machine: bool
    fits_now: bool
    advice: str = ""

    @property
    def run_s(self) -> float | None:
        """Seconds of the whole run (None when the epoch time is unknown)."""
        return None if self.estimate.epoch_s is None else self.estimate.epoch_s * self.epochs

    @property
    def takes_hours(self) -> bool:
        """Whether the run would take longer than :data:`LONG_RUN_S`."""
        return self.run_s is not None and self.run_s > LONG_RUN_S

    def _needs(self) -> str:
        return f"this training needs about {gb_text(self.estimate.peak_bytes or 0)} of memory"

    def _change(self) -> str:
        est = self.estimate
        what = (
            f"choose a smaller image size (now {est.image_size} px) or batch size "
            f"(now {est.batch_size})"
        )
        return f"{what}: {self.advice}" if self.advice else what

    @property
    def refusal(self) -> str | None:
        """Why the run cannot start on this machine at all (None when it could)."""
        if self.fits_machine:
            return None
        room = max(0, self.memory.total - memory_reserve(self.memory.total))
        return (
            f"{self._needs()}, more than this machine can give it (about {gb_text(room)}): "
            f"{self._change()}"
        )

    @property
    def refusal_now(self) -> str | None:
        """Why the run cannot start now (the job's check, before it allocates anything)."""
        if not self.fits_machine:
            return self.refusal
        if self.fits_now:
            return None
        room = max(0, self.memory.available - memory_reserve(self.memory.total))
        return (
            f"{self._needs()}, but only about {gb_text(room)} is free on this machine: "
            f"{self._change()}, or free memory (close other programs, wait for other jobs) "
            "and run it again"
        )

    @property
    def warnings(self) -> list[str]:
        """What the person starting it should know (memory that may not be free, hours)."""
        out: list[str] = []
        if self.fits_machine and not self.fits_now:
            room = max(0, self.memory.available - memory_reserve(self.memory.total))
            out.append(
                f"{self._needs()} and only about {gb_text(room)} is free now: it starts only "
                f"if memory is freed by then (close other programs, or wait for running jobs); "
                f"or {self._change()}"
            )
        if self.takes_hours and self.run_s is not None:
            out.append(
                f"{self.epochs} epochs would take about {duration_text(self.run_s)} on this "
                f"machine ({self.estimate.machine}): a smaller image size (now "
                f"{self.estimate.image_size} px), a smaller model or fewer epochs train faster"
            )
        return out


def _fits(peak: int | None, room: int) -> bool:
    return peak is None or peak <= room


def check_run(
    task: Task,
    config: Any,
    train_images: int,
    val_images: int,
    info: TargetInfo,
    machine: MachineFacts,
) -> ResourceCheck:
    """:func:`estimate_run` judged against ``machine``'s memory (see :class:`ResourceCheck`);
    when it does not fit, the largest batch size, else image size, that would."""
    estimate = estimate_run(task, config, train_images, val_images, info, machine)
    memory = machine.memory
    reserve = memory_reserve(memory.total)
    room_machine = memory.total - reserve
    room_now = memory.available - reserve
    fits_machine = _fits(estimate.peak_bytes, room_machine)
    fits_now = _fits(estimate.peak_bytes, room_now)
    advice = ""
    if not fits_now:
        room = room_now if fits_machine else room_machine
        advice = _advice(task, config, train_images, val_images, info, machine, room)
    epochs = int(_get(config, "epochs", 1))
    return ResourceCheck(estimate, memory, epochs, fits_machine, fits_now, advice)


def _advice(
    task: Task,
    config: Any,
    train_images: int,
    val_images: int,
    info: TargetInfo,
    machine: MachineFacts,
    room: int,
) -> str:
    """``batch size 8 fits (about 6.1 GB)`` or ``image size 512 px fits (…)``, else empty."""
    base = dict(config) if isinstance(config, dict) else config.model_dump(mode="json")
    batch = int(base.get("batch_size", 1))
    size = int(base.get("image_size", 0))

    def peak(**change: int) -> int | None:
        trial = {**base, **change}
        return estimate_run(task, trial, train_images, val_images, info, machine).peak_bytes

    for smaller in sorted(
        {b for b in (batch // 2, batch // 4, batch // 8, 4, 2, 1) if 0 < b < batch}, reverse=True
    ):
        needed = peak(batch_size=smaller)
        if needed is not None and needed <= room:
            return f"batch size {smaller} fits (about {gb_text(needed)})"
    minimum = task.model_spec(str(base.get("model"))).min_image_size
    side = size
    while side > minimum:
        side = max(minimum, (side * 3 // 4) // 32 * 32 or minimum)
        needed = peak(image_size=side)
        if needed is not None and needed <= room:
            return f"image size {side} px fits (about {gb_text(needed)})"
        if side == minimum:
            break
    return ""


# ---------------------------------------------------------------------- the job's memory
def _status_rss(pid: int | str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _pss(pid: int | str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def child_pids(pid: int | None = None) -> list[int]:
    """This process's descendants (data loader workers and theirs), from ``/proc``."""
    root = os.getpid() if pid is None else pid
    found: list[int] = []
    todo = [root]
    while todo:
        current = todo.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                text = (task / "children").read_text()
            except OSError:
                continue
            for token in text.split():
                child = int(token)
                if child not in found:
                    found.append(child)
                    todo.append(child)
    return found


def job_memory_bytes(precise: bool = False) -> int:
    """Memory this job's processes hold: its own RSS plus its descendants' (data loader
    workers).

    Forked workers share most of their pages with the job, so their RSS counts those pages
    again: the quick figure (``/proc/<pid>/status``, well under a millisecond) is an upper bound.
    ``precise`` counts the descendants' proportional share instead (PSS, ``smaps_rollup``),
    which walks their page tables: about 100 ms per worker of a few hundred MB, so it is taken
    only now and then, never at the guard's pace.
    """
    total = _status_rss("self")
    for child in child_pids():
        share = _pss(child) if precise else None
        total += share if share is not None else _status_rss(child)
    return total


def job_peak_bytes(precise: bool = False) -> int:
    """The most this process has held (its peak RSS) plus what its descendants hold now
    (see :func:`job_memory_bytes`)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return own + job_memory_bytes(precise) - _status_rss("self")


# ---------------------------------------------------------------------- the guard
class MemoryLimitError(Exception):
    """The guard stopped the run: the machine was running out of memory. Its message says what
    to change; the job ends ``JobFailed(bad_input)`` with it."""


@dataclass
class _Pending:
    error: BaseException
    since: float
    signalled: bool = False
    raised: bool = False
    """Whether the main thread has raised it (a signal then no longer interrupts)."""


@dataclass
class GuardFacts:
    """What the guard's message quotes about the run (image size, batch size)."""

    image_size: int = 0
    batch_size: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class RunGuard:
    """Stops a running job on cancel or when memory runs out; see the module's docstring.

    Use as a context manager around the work of the job, in its main thread::

        with RunGuard(job_id, log, facts) as guard:
            ...  # the run calls guard.check() at safe points (the hooks do it inside steps)

    A stop raises, in the main thread, :class:`aistudio.worker.context.JobCancelledError`
    (the runner ends the job ``JobCancelled``) or :class:`MemoryLimitError`. The run marks the
    moments an interruption must wait for (an event being appended, a checkpoint written) with
    :meth:`deferred`; a signal then only leaves the stop pending until the next check.

    Args:
        job_id: the job (its ``CancelRequested`` is looked for).
        log: the project's log (read with a tail of its own, from this thread).
        facts: the run's settings, for the message.
        memory: the memory probe (for tests).
        floor: free memory under which it stops the run (default :func:`memory_floor`).
        poll_s: seconds between memory samples.
        cancel_poll_s: seconds between looks at the log.
        hooks: whether to check inside forward and backward passes (global module hooks).
        interrupt: whether to signal the main thread when a stop is not honoured in time.
    """

    def __init__(
        self,
        job_id: str,
        log: EventLog | None,
        facts: GuardFacts | None = None,
        memory: Callable[[], MemoryState] = memory_state,
        floor: int | None = None,
        poll_s: float = GUARD_POLL_S,
        cancel_poll_s: float = CANCEL_POLL_S,
        hooks: bool = True,
        interrupt: bool = True,
    ) -> None:
        self.job_id = job_id
        self.log = log
        self.facts = facts or GuardFacts()
        self.memory = memory
        self.floor = floor
        self.poll_s = poll_s
        self.cancel_poll_s = cancel_poll_s
        self.hooks = hooks
        self.interrupt = interrupt
        self.peak_bytes = 0
        """The most this job's processes held at a sample."""
        self._pending: _Pending | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deferred = 0
        self._handles: list[Any] = []
        self._previous_handler: Any = None
        self._main_ident: int | None = None
        self._active = False
        self._pid = os.getpid()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> RunGuard:
        self._active = True
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            self._main_ident = threading.get_ident()
            if self.interrupt:
                self._previous_handler = signal.signal(STOP_SIGNAL, self._on_signal)
        if self.hooks:
            self._install_hooks()
        if self.floor is None:
            self.floor = memory_floor(self.memory().total)
        self._thread = threading.Thread(target=self._watch, name="run-guard", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._active = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._previous_handler is not None:
            signal.signal(STOP_SIGNAL, self._previous_handler)
            self._previous_handler = None

    # ------------------------------------------------------------------ the main thread
    @property
    def stop_requested(self) -> bool:
        """Whether a stop is pending."""
        return self._pending is not None

    def check(self) -> None:
        """Raise the pending stop (call at safe points: batch ends, between chunks of work)."""
        pending = self._pending
        # Only in the job's own process: loader workers forked from it inherit the hooks.
        if pending is not None and self._active and os.getpid() == self._pid:
            pending.raised = True
            raise pending.error

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within this block a signal does not interrupt (the stop waits for the next check)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        pending = self._pending
        if self._deferred == 0 and pending is not None and not pending.raised:
            self.check()

    def _install_hooks(self) -> None:
        from torch.nn.modules import module as nn_module

        def before(_module: Any, _inputs: Any) -> None:
            self.check()

        def after(_module: Any, _inputs: Any, output: Any) -> None:
            if getattr(output, "requires_grad", False) and hasattr(output, "register_hook"):
                output.register_hook(self._backward_check)

        self._handles.append(nn_module.register_module_forward_pre_hook(before))
        self._handles.append(nn_module.register_module_forward_hook(after))

    def _backward_check(self, _grad: Any) -> None:
        self.check()

    # ------------------------------------------------------------------ the thread
    def _stop_with(self, error: BaseException) -> None:
        with self._lock:
            if self._pending is None:
                logger.warning("stopping the run: %s", error)
                self._pending = _Pending(error, time.monotonic())

    def _watch(self) -> None:
        tail = self.log.tail() if self.log is not None else None
        next_cancel = 0.0
        while not self._stop.wait(self.poll_s):
            now = time.monotonic()
            if self._pending is None:
                self._sample_memory()
            if tail is not None and self._pending is None and now >= next_cancel:
                next_cancel = now + self.cancel_poll_s
                self._look_for_cancel(tail)
            self._escalate(now)

    def _look_for_cancel(self, tail: Any) -> None:
        from aistudio.worker.context import JobCancelledError

        try:
            fresh = tail.poll()
        except Exception:  # a damaged log is the main thread's to report
            logger.exception("run guard: could not read the log")
            return
        for event in fresh:
            if event.type == "CancelRequested" and event.data.get("job_id") == self.job_id:
                self._stop_with(JobCancelledError(f"job {self.job_id} was cancelled"))
                return

    def _sample_memory(self) -> None:
        state = self.memory()
        used = job_memory_bytes()  # the quick figure: an upper bound
        self.peak_bytes = max(self.peak_bytes, used)
        floor = self.floor or 0
        free = state.available
        if state.limit is not None and state.source == LIMIT_ENV:
            free = min(free, state.limit - used)
        if free < floor:
            held = job_memory_bytes(precise=True)
            self._stop_with(MemoryLimitError(self._memory_message(held, free)))

    def _memory_message(self, used: int, free: int) -> str:
        facts = self.facts
        change = "train with a smaller image size or batch size"
        if facts.image_size and facts.batch_size:
            change = (
                f"train with a smaller image size (now {facts.image_size} px) or batch size "
                f"(now {facts.batch_size})"
            )
        return (
            f"stopped to keep the machine responsive: the training held about {gb_text(used)} "
            f"and only about {gb_text(max(free, 0))} of memory was left (the guard stops a run "
            f"under {gb_text(self.floor or 0)}): {change}"
        )

    def _escalate(self, now: float) -> None:
        pending = self._pending
        if (
            pending is None
            or pending.signalled
            or pending.raised
            or not self.interrupt
            or self._main_ident is None
            or now - pending.since < SIGNAL_AFTER_S
        ):
            return
        pending.signalled = True
        logger.warning("the run did not reach a check in %.0f s: interrupting it", SIGNAL_AFTER_S)
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pthread_kill(self._main_ident, STOP_SIGNAL)
