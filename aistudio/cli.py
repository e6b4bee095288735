"""The ``aistudio`` command (DESIGN §6).

Exit codes: 0 success, 1 the job failed (or the log is damaged), 2 bad input with a one-line
reason on stderr. Commands that start a job print its id; with ``--wait`` they wait for its end,
running it here when no worker is alive, and show progress on the terminal.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from aistudio import commands
from aistudio.commands import CommandError
from aistudio.settings import SettingsError
from aistudio.workspace import Workspace, WorkspaceError
from events import Event, EventLog, EventLogError, LogCorruptedError, verify_log
from events.jsonlimits import MAX_JSON_BYTES, JsonLimitError, parse_json
from events.schemas.common import TASKS
from events.schemas.export import EXPORT_FORMATS

logger = logging.getLogger("aistudio")
F = TypeVar("F", bound=Callable[..., Any])

VIEWS: tuple[str, ...] = (
    "project",
    "dataset",
    "splits",
    "experiments",
    "evaluation",
    "exports",
    "jobs",
)


# ---------------------------------------------------------------------- plumbing
def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def workspace_option(func: F) -> F:
    """Add ``--workspace`` to a subcommand (it overrides the group's)."""
    return click.option(
        "--workspace",
        "workspace_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Workspace folder (default: $AISTUDIO_WORKSPACE, else ./workspace).",
    )(func)


def _workspace(ctx: click.Context, explicit: Path | None) -> Workspace:
    chosen = explicit or ctx.find_root().params.get("workspace_dir")
    try:
        return Workspace.open(chosen)
    except (OSError, WorkspaceError) as exc:
        _fail(f"cannot open the workspace: {exc}")
        raise AssertionError from exc  # unreachable


def handle_errors(func: F) -> F:
    """Turn the errors a user can cause into one line on stderr and the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CommandError, WorkspaceError, SettingsError) as exc:
            _fail(str(exc), 2)
        except LogCorruptedError as exc:
            _fail(f"{exc} (run `aistudio verify`)", 1)
        except EventLogError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _project(ws: Workspace, ref: str) -> str:
    return commands.resolve_project(ws, ref)


def _print_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


class _Progress:
    """Prints a job's progress: one updating line on a terminal, a line per change otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last: tuple[object, ...] | None = None

    def __call__(self, job: Any) -> None:
        key = (job.status, job.progress_done, job.progress_total, job.progress_message)
        if key == self.last:
            return
        self.last = key
        done, total = job.progress_done or 0, job.progress_total
        if total:
            width = 24
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"[{bar}] {done}/{total} {job.progress_message or job.status}"
        else:
            text = f"{job.status} {job.progress_message or ''}".strip()
        if self.tty:
            cols = shutil.get_terminal_size((100, 20)).columns
            click.echo("\r" + text[: cols - 1].ljust(cols - 1), nl=False, err=True)
        else:
            click.echo(text, err=True)

    def close(self) -> None:
        if self.tty and self.last is not None:
            click.echo("", err=True)


def _wait(ws: Workspace, project_id: str, job_id: str) -> Any:
    from aistudio.worker.inline import wait_for_job

    progress = _Progress()
    try:
        job = wait_for_job(ws, project_id, job_id, on_update=progress)
    finally:
        progress.close()
    return job


def _report_end(job: Any) -> None:
    """Print a job's end on one line and exit unless it succeeded.

    One rule for every job type, from the reason its ``JobFailed`` records: ``bad_input`` (the
    handler raised ``JobInputError``) and ``invalid_command`` exit 2 (bad input, DESIGN §6);
    any other failure (an internal error, a dead process, a stopped worker) and a cancel exit 1.
    """
    if job.status == "succeeded":
        return
    if job.status == "cancelled":
        _fail(f"job {job.job_id} was cancelled", 1)
    bad_input = job.reason in ("bad_input", "invalid_command")
    error = " ".join(str(job.error or job.reason or "unknown error").split())
    _fail(f"job {job.job_id} failed: {error}", 2 if bad_input else 1)


# ---------------------------------------------------------------------- group
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    "workspace_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workspace folder (default: $AISTUDIO_WORKSPACE, else ./workspace).",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(workspace_dir: Path | None, verbose: int) -> None:
    """AI Studio: train, evaluate and export image models; every action is an event."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------------- project
@cli.group()
def project() -> None:
    """Create, list, rename and delete projects."""


@project.command("create")
@click.argument("name")
@click.option("--task", type=click.Choice(TASKS), required=True)
@click.option("--description", default="")
@workspace_option
@click.pass_context
@handle_errors
def project_create(
    ctx: click.Context, name: str, task: str, description: str, workspace_dir: Path | None
) -> None:
    """Create a project and print its id."""
    ws = _workspace(ctx, workspace_dir)
    event = commands.create_project(ws, name, task, description)
    click.echo(event.data["project_id"])


@project.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@workspace_option
@click.pass_context
@handle_errors
def project_list(ctx: click.Context, as_json: bool, workspace_dir: Path | None) -> None:
    """List the projects."""
    from projections.project_list import project_list as build_list
    from projections.serialize import to_jsonable

    ws = _workspace(ctx, workspace_dir)
    views, unreadable = commands.scan_projects(ws)
    projects = build_list(views)
    if as_json:
        _print_json(to_jsonable(projects))
        return
    if not projects and not unreadable:
        click.echo("no projects yet: `aistudio project create NAME --task classification`")
        return
    click.echo(f"{'id':<14} {'name':<28} {'task':<22} {'images':>7}  {'created':<20} last activity")
    for view in projects:
        click.echo(
            f"{view.project_id:<14} {view.name[:28]:<28} {view.task:<22} {view.image_count:>7}  "
            f"{view.created_ts[:19]:<20} {view.last_activity_ts[:19]}"
        )
    for project_id in sorted(unreadable):
        click.echo(f"{project_id:<14} (its log cannot be read: see `aistudio verify {project_id}`)")


@project.command("rename")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("name")
@workspace_option
@click.pass_context
@handle_errors
def project_rename(
    ctx: click.Context, project_ref: str, name: str, workspace_dir: Path | None
) -> None:
    """Rename a project."""
    ws = _workspace(ctx, workspace_dir)
    commands.rename_project(ws, _project(ws, project_ref), name)


@project.command("delete")
@click.argument("project_ref", metavar="PROJECT")
@workspace_option
@click.pass_context
@handle_errors
def project_delete(ctx: click.Context, project_ref: str, workspace_dir: Path | None) -> None:
    """Delete a project (its log is kept)."""
    ws = _workspace(ctx, workspace_dir)
    commands.delete_project(ws, _project(ws, project_ref))


# ---------------------------------------------------------------------- import
@cli.command("import")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(commands.IMPORT_FORMATS), default="auto")
@click.option("--wait", is_flag=True, help="Wait for the import to end (runs it if no worker).")
@workspace_option
@click.pass_context
@handle_errors
def import_(
    ctx: click.Context,
    project_ref: str,
    source: str,
    fmt: str,
    wait: bool,
    workspace_dir: Path | None,
) -> None:
    """Import images from SOURCE (a folder or a CSV file) into PROJECT."""
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    event = commands.request_import(ws, project_id, source, fmt, base=Path.cwd())
    click.echo(event.id)
    if not wait:
        return
    job = _wait(ws, project_id, event.id)
    if job.status == "succeeded":
        _print_import_summary(ws, project_id, event.id)
    _report_end(job)


LISTED = 50
"""How many lines a listing (skipped files, files to remove, failures) prints at most."""


def _echo_listed(lines: list[str], more_hint: str = "") -> None:
    """Print the first ``LISTED`` lines, then how many more there are."""
    for line in lines[:LISTED]:
        click.echo(line)
    if len(lines) > LISTED:
        click.echo(f"  … and {len(lines) - LISTED} more{more_hint}")


def _print_import_summary(ws: Workspace, project_id: str, job_id: str) -> None:
    log = EventLog(ws.events_path(project_id))
    skipped: list[dict[str, str]] = []
    summary: dict[str, Any] = {}
    job_summary: dict[str, Any] = {}
    for event in log.read():
        if event.causation != job_id:
            continue
        if event.type == "ImportSkipped":
            skipped.extend(event.data["items"])
        elif event.type == "ImportCompleted":
            summary = event.data
        elif event.type == "JobSucceeded":
            job_summary = event.data.get("summary", {})
    conflicts = int(job_summary.get("conflicts") or 0)
    copies = "copy" if conflicts == 1 else "copies"
    class_masks = job_summary.get("objects") is None and job_summary.get("masks") is not None
    if class_masks:
        other = "another mask"
    else:
        other = "another label" if job_summary.get("objects") is None else "other objects"
    of_which = f" ({conflicts} {copies} with {other})" if conflicts else ""
    click.echo(
        f"added {summary.get('added', 0)}, duplicates {summary.get('duplicates', 0)}, "
        f"skipped {summary.get('skipped', 0)}{of_which}"
    )
    if job_summary.get("objects") is not None and summary.get("added"):
        clipped = int(job_summary.get("clipped") or 0)
        note = (
            f" ({clipped} object{'s' if clipped != 1 else ''} clipped to the image)"
            if clipped
            else ""
        )
        masks = job_summary.get("masks")
        stored = f", masks {masks} (stored as PNG files)" if masks else ""
        click.echo(f"objects {job_summary['objects']}{note}{stored}")
    if class_masks and summary.get("added"):
        click.echo(f"masks {job_summary['masks']} (class masks, stored as PNG files)")
    if job_summary.get("split"):
        click.echo(f"split {job_summary['split']!r}: the source's own train/val/test subsets")
    _echo_listed(
        [f"  skipped {item['path']}: {item['reason']}" for item in skipped],
        " (see `aistudio events` for all)",
    )


# ---------------------------------------------------------------------- split
@cli.command("split")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--name", default="default", show_default=True)
@click.option("--train", type=float, default=0.7, show_default=True)
@click.option("--val", type=float, default=0.15, show_default=True)
@click.option("--test", type=float, default=0.15, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-stratify", is_flag=True, help="Do not keep class proportions per subset.")
@click.option("--delete", is_flag=True, help="Delete the split named --name instead.")
@workspace_option
@click.pass_context
@handle_errors
def split(
    ctx: click.Context,
    project_ref: str,
    name: str,
    train: float,
    val: float,
    test: float,
    seed: int,
    no_stratify: bool,
    delete: bool,
    workspace_dir: Path | None,
) -> None:
    """Create (or delete) a named train/val/test split of PROJECT's dataset."""
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    if delete:
        commands.delete_split(ws, project_id, name)
        click.echo(f"deleted split {name}")
        return
    event = commands.create_split(ws, project_id, name, train, val, test, seed, not no_stratify)
    counts = {k: len(v) for k, v in event.data["assignments"].items()}
    click.echo(
        f"split {event.data['name']}: train {counts['train']}, val {counts['val']}, "
        f"test {counts['test']}"
    )


# ---------------------------------------------------------------------- train
@cli.command("train")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--name", default=None, help="Experiment name (default: '<model> #n').")
@click.option("--split", "split_name", default="default", show_default=True)
@click.option("--model", default=None, help="Model (default: the task's default model).")
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--image-size", type=int, default=None)
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON file with training settings (the options above override it).",
)
@click.option(
    "--resume",
    "resume_ref",
    default=None,
    metavar="EXPERIMENT",
    help="Continue EXPERIMENT from its last checkpoint (to --epochs, if given).",
)
@click.option("--wait", is_flag=True, help="Wait for the run to end (runs it if no worker).")
@workspace_option
@click.pass_context
@handle_errors
def train(
    ctx: click.Context,
    project_ref: str,
    name: str | None,
    split_name: str,
    model: str | None,
    epochs: int | None,
    batch_size: int | None,
    image_size: int | None,
    lr: float | None,
    config_file: Path | None,
    resume_ref: str | None,
    wait: bool,
    workspace_dir: Path | None,
) -> None:
    """Train an experiment on a split of PROJECT (or resume one); prints the job id."""
    config: dict[str, Any] = {}
    if config_file is not None:
        config = _user_json(_read_limited(config_file), str(config_file))
        if not isinstance(config, dict):
            raise CommandError(f"{config_file} must hold a JSON object of training settings")
    flags = {"model": model, "epochs": epochs, "batch_size": batch_size, "image_size": image_size}
    flags["lr"] = lr
    config.update({k: v for k, v in flags.items() if v is not None})
    if resume_ref is not None:
        others = [k for k, v in flags.items() if v is not None and k != "epochs"]
        if others or config_file is not None or name is not None:
            raise CommandError(
                "--resume keeps the experiment's settings: only --epochs may be given"
            )
        config = {"epochs": epochs} if epochs is not None else {}
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    event = commands.request_training(
        ws, project_id, name, split_name, config, actor="cli", resume_experiment=resume_ref
    )
    click.echo(event.id)
    exp = event.data["experiment_id"]
    verb = "resuming" if event.data.get("resume") else "training"
    click.echo(
        f"{verb} {exp} ({event.data['name']}): {event.data['config']['model']}, "
        f"{event.data['config']['epochs']} epochs on split {event.data['split']!r}",
        err=True,
    )
    check = commands.resource_check(ws, project_id, event)
    if check is not None:
        click.echo(f"estimated: {check.estimate.summary}", err=True)
    if not wait:
        return
    job = _wait(ws, project_id, event.id)
    _report_end(job)
    click.echo(_training_result_line(ws, project_id, event.id, exp))


def _training_result_line(ws: Workspace, project_id: str, job_id: str, experiment_id: str) -> str:
    """One line on how a finished run went (from its ``TrainingCompleted``)."""
    done: dict[str, Any] = {}
    for event in EventLog(ws.events_path(project_id)).read():
        if event.type == "TrainingCompleted" and event.causation == job_id:
            done = event.data
    epochs = done.get("epochs_completed", 0)
    early = ", stopped early" if done.get("stopped_early") else ""
    if done.get("best_value") is None:
        return f"{experiment_id}: {epochs} epochs{early}, no best metric"
    return (
        f"{experiment_id}: best {done['metric']} {done['best_value']:.4g} at epoch "
        f"{done['best_epoch']} ({epochs} epochs{early}, {done.get('duration_s', 0):.0f} s)"
    )


# ---------------------------------------------------------------------- evaluation and export
@cli.command("evaluate")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("experiment_ref", metavar="EXPERIMENT")
@click.option("--checkpoint", type=click.Choice(commands.CHECKPOINTS), default="best")
@click.option(
    "--subsets",
    default="test",
    show_default=True,
    help="Comma-separated subsets of the experiment's split, pooled (train, val, test).",
)
@click.option("--reset", is_flag=True, help="Remove the experiment's evaluation instead.")
@click.option("--wait", is_flag=True, help="Wait for the evaluation (runs it if no worker).")
@workspace_option
@click.pass_context
@handle_errors
def evaluate(
    ctx: click.Context,
    project_ref: str,
    experiment_ref: str,
    checkpoint: str,
    subsets: str,
    reset: bool,
    wait: bool,
    workspace_dir: Path | None,
) -> None:
    """Evaluate EXPERIMENT of PROJECT on the subsets of its split; prints the job id."""
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    if reset:
        event = commands.reset_evaluation(ws, project_id, experiment_ref, actor="cli")
        click.echo(event.id)
        return
    chosen = [s.strip() for s in subsets.split(",") if s.strip()]
    event = commands.request_evaluation(
        ws, project_id, experiment_ref, checkpoint, chosen, actor="cli"
    )
    click.echo(event.id)
    exp = event.data["experiment_id"]
    click.echo(
        f"evaluating {exp} ({checkpoint} checkpoint) on {', '.join(event.data['subsets'])}",
        err=True,
    )
    if not wait:
        return
    _report_end(_wait(ws, project_id, event.id))
    entry = commands.evaluations_view(ws, project_id).get(exp)
    if entry is not None and entry.status == "completed":
        figures = ", ".join(f"{k} {v:.4g}" for k, v in entry.metrics.items())
        click.echo(f"{exp}: {entry.images} images; {figures}")


@cli.command("threshold")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("experiment_ref", metavar="EXPERIMENT")
@click.argument("value", type=float)
@workspace_option
@click.pass_context
@handle_errors
def threshold(
    ctx: click.Context,
    project_ref: str,
    experiment_ref: str,
    value: float,
    workspace_dir: Path | None,
) -> None:
    """Set EXPERIMENT's confidence threshold (0..1): later evaluations count detections at it
    and later exports write it into their metadata; prints the event id."""
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    event = commands.set_threshold(ws, project_id, experiment_ref, value, actor="cli")
    click.echo(event.id)
    click.echo(
        f"threshold of {event.data['experiment_id']} set to {event.data['threshold']:g}",
        err=True,
    )


@cli.command("export")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("experiment_ref", metavar="EXPERIMENT")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="onnx")
@click.option("--checkpoint", type=click.Choice(commands.CHECKPOINTS), default="best")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the exported file here (waits for the export).",
)
@click.option("--wait", is_flag=True, help="Wait for the export (runs it if no worker).")
@workspace_option
@click.pass_context
@handle_errors
def export(
    ctx: click.Context,
    project_ref: str,
    experiment_ref: str,
    fmt: str,
    checkpoint: str,
    output: Path | None,
    wait: bool,
    workspace_dir: Path | None,
) -> None:
    """Export EXPERIMENT of PROJECT (ONNX or TorchScript), validated; prints the job id."""
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    if output is not None and output.exists() and output.is_dir():
        raise CommandError(f"--output {output} is a folder: give a file name")
    event = commands.request_export(ws, project_id, experiment_ref, checkpoint, fmt, actor="cli")
    click.echo(event.id)
    export_id = event.data["export_id"]
    click.echo(
        f"exporting {event.data['experiment_id']} ({checkpoint} checkpoint) as {fmt}: {export_id}",
        err=True,
    )
    if not wait and output is None:
        return
    job = _wait(ws, project_id, event.id)
    entry = commands.exports_view(ws, project_id).get(export_id)
    if entry is not None and entry.validation is not None:
        check = entry.validation
        click.echo(
            f"{export_id}: {check.images} images, max abs diff {check.max_abs_diff:.3g} "
            f"(tolerance {check.tolerance:g}), agreement {check.agreement:.1%}"
            + ("" if check.mask_iou_min is None else f", mask IoU >= {check.mask_iou_min:.3f}")
            + (
                ""
                if check.pixel_agreement is None
                else f", pixels agreeing {check.pixel_agreement:.4%}"
            )
            + ("" if check.passed else " - FAILED validation"),
            err=job.status != "succeeded",
        )
    _report_end(job)
    if output is not None:
        path, _name = commands.export_file(ws, project_id, export_id)
        _copy_atomically(path, output)
        click.echo(f"wrote {output}", err=True)


def _copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary file in the target's folder."""
    target = target.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CommandError(f"cannot write {target}: {exc}") from None


# ---------------------------------------------------------------------- jobs
@cli.command("cancel")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("job_id", metavar="JOB")
@workspace_option
@click.pass_context
@handle_errors
def cancel(ctx: click.Context, project_ref: str, job_id: str, workspace_dir: Path | None) -> None:
    """Ask the job JOB to stop."""
    ws = _workspace(ctx, workspace_dir)
    event = commands.request_cancel(ws, _project(ws, project_ref), job_id)
    click.echo(event.id)


@cli.command("submit")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("event_type", metavar="TYPE")
@click.option("--data", "data_json", default=None, help="The event's data as JSON.")
@click.option("--file", "data_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--wait", is_flag=True, help="For a command: wait for its job to end.")
@workspace_option
@click.pass_context
@handle_errors
def submit(
    ctx: click.Context,
    project_ref: str,
    event_type: str,
    data_json: str | None,
    data_file: Path | None,
    wait: bool,
    workspace_dir: Path | None,
) -> None:
    """Append any command or user action, validated; prints its id."""
    if (data_json is None) == (data_file is None):
        raise CommandError("give exactly one of --data JSON or --file F")
    raw = data_json if data_json is not None else _read_limited(data_file)  # type: ignore[arg-type]
    data = _user_json(raw, "data")
    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    event = commands.submit(ws, project_id, event_type, data, actor="cli")
    click.echo(event.id)
    if wait and event.is_command and event.type != "CancelRequested":
        _report_end(_wait(ws, project_id, event.id))


def _read_limited(path: Path) -> bytes:
    """A JSON file's bytes, read only up to one byte past the accepted size."""
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def _user_json(raw: str | bytes, what: str) -> Any:
    """JSON a person handed in, under the size and depth limits (CommandError otherwise)."""
    try:
        return parse_json(raw, what)
    except JsonLimitError as exc:
        raise CommandError(str(exc)) from None


@cli.command("worker")
@click.option("--once", is_flag=True, help="Process what is pending, then exit.")
@click.option(
    "--jobs",
    "max_jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="How many jobs may run at once.",
)
@workspace_option
@click.pass_context
@handle_errors
def worker(ctx: click.Context, once: bool, max_jobs: int, workspace_dir: Path | None) -> None:
    """Run the worker: it runs the commands appended to every project's log."""
    from aistudio.worker.service import run_worker

    if logging.getLogger().level > logging.INFO:
        logging.getLogger("aistudio").setLevel(logging.INFO)
    run_worker(_workspace(ctx, workspace_dir), once=once, max_jobs=max_jobs)


# ---------------------------------------------------------------------- reading
def _event_summary(event: Event) -> str:
    data = event.data
    if "images" in data:
        return f"{len(data['images'])} images"
    if "items" in data:
        return f"{len(data['items'])} items"
    if "assignments" in data:
        counts = {k: len(v) for k, v in data["assignments"].items()}
        return f"{data.get('name')} {counts}"
    text = orjson.dumps(data).decode()
    return text if len(text) <= 100 else text[:97] + "..."


@cli.command("events")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--type", "types", multiple=True, help="Only these event types (repeatable).")
@click.option("--since", type=int, default=0, help="Only events after this seq.")
@click.option("--until", type=int, default=None, help="Only events up to this seq.")
@click.option("--follow", is_flag=True, help="Keep printing new events (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@workspace_option
@click.pass_context
@handle_errors
def events_(
    ctx: click.Context,
    project_ref: str,
    types: tuple[str, ...],
    since: int,
    until: int | None,
    follow: bool,
    as_json: bool,
    workspace_dir: Path | None,
) -> None:
    """Print the project's event log."""
    ws = _workspace(ctx, workspace_dir)
    log = EventLog(ws.events_path(_project(ws, project_ref)))
    wanted = set(types)

    def show(event: Event) -> None:
        if wanted and event.type not in wanted:
            return
        if as_json:
            click.echo(event.to_line().decode().rstrip("\n"))
        else:
            click.echo(
                f"{event.seq:>6}  {event.ts}  {event.type:<18} {event.actor:<6} "
                f"{_event_summary(event)}"
            )

    source = log.follow(after_seq=since) if follow else log.read(after_seq=since)
    for event in source:
        if until is not None and event.seq > until:
            break
        show(event)


@cli.command("show")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("view", type=click.Choice(VIEWS), default="project")
@click.option("--at", "at_seq", type=int, default=None, help="As it was right after this seq.")
@workspace_option
@click.pass_context
@handle_errors
def show(
    ctx: click.Context, project_ref: str, view: str, at_seq: int | None, workspace_dir: Path | None
) -> None:
    """Print a view of the project as JSON (now, or --at an earlier seq)."""
    from projections import ALL_PROJECTIONS
    from projections.serialize import to_jsonable

    ws = _workspace(ctx, workspace_dir)
    log = EventLog(ws.events_path(_project(ws, project_ref)))
    if at_seq is not None and at_seq < 1:
        raise CommandError("--at must be a seq of 1 or more")
    built = ALL_PROJECTIONS[view].rebuild(log.read(), until_seq=at_seq)
    _print_json(to_jsonable(built))


@cli.command("verify")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@workspace_option
@click.pass_context
@handle_errors
def verify(ctx: click.Context, project_ref: str, as_json: bool, workspace_dir: Path | None) -> None:
    """Check the project's log: framing, seqs, ids and every event's schema.

    Also says when a running worker has set the project aside (and why).
    """
    from aistudio.worker.quarantine import quarantine_reason

    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    report = verify_log(ws.events_path(project_id))
    set_aside = quarantine_reason(ws, project_id)
    if as_json:
        data = report.to_dict()
        if set_aside is not None:
            data["worker_set_aside"] = set_aside
        _print_json(data)
    else:
        click.echo(
            f"{report.path}: {report.events} events, last seq {report.last_seq}, "
            f"{'OK' if report.ok else 'DAMAGED'}"
        )
        for problem in report.problems:
            click.echo(f"  {problem.severity}: line {problem.line}: {problem.message}")
        if set_aside is not None:
            click.echo(f"  the worker has set this project aside: {set_aside}")
    if not report.ok:
        sys.exit(1)


# ---------------------------------------------------------------------- gc


@cli.command("gc")
@click.argument("project_ref", metavar="PROJECT")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@workspace_option
@click.pass_context
@handle_errors
def gc(ctx: click.Context, project_ref: str, dry_run: bool, workspace_dir: Path | None) -> None:
    """Remove image files no event names (left by failed, cancelled or killed imports)."""
    from aistudio.datasets.orphans import ImagesBusyError, collect_garbage

    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    try:
        sweep = collect_garbage(ws, project_id, dry_run=dry_run)
    except ImagesBusyError as exc:
        _fail(str(exc), 2)
        return
    if dry_run:
        root = ws.project_dir(project_id)
        _echo_listed(
            [f"  {path.relative_to(root)} ({size} bytes)" for path, size in sweep.entries()]
        )
    click.echo(sweep.summary())
    if sweep.errors:
        for error in sweep.errors[:LISTED]:
            click.echo(f"  could not remove {error}", err=True)
        sys.exit(1)


# ---------------------------------------------------------------------- thumbnails


@cli.command("thumbnails")
@click.argument("project_ref", metavar="PROJECT")
@click.option(
    "--all", "everything", is_flag=True, help="Rebuild every thumbnail, not only the missing ones."
)
@workspace_option
@click.pass_context
@handle_errors
def thumbnails(
    ctx: click.Context, project_ref: str, everything: bool, workspace_dir: Path | None
) -> None:
    """Rebuild PROJECT's missing thumbnails from the stored originals (--all: every one)."""
    from aistudio.datasets.thumbnails import rebuild_thumbnails

    ws = _workspace(ctx, workspace_dir)
    project_id = _project(ws, project_ref)
    try:
        report = rebuild_thumbnails(ws, project_id, everything=everything)
    except OSError as exc:
        _fail(f"cannot write thumbnails: {exc}", 1)
        return
    click.echo(report.summary())
    root = ws.project_dir(project_id)
    _echo_listed(
        [
            f"  {failure.original.relative_to(root)} ({failure.image.filename}): {failure.reason}"
            for failure in report.failed
        ]
    )
    if report.failed:
        sys.exit(1)


# ---------------------------------------------------------------------- demo
@cli.command("demo")
@workspace_option
@click.pass_context
@handle_errors
def demo(ctx: click.Context, workspace_dir: Path | None) -> None:
    """Create the demo project (handwritten digits), import and split it, show what it holds."""
    from aistudio.demo_project import DEMO_NAME, ensure_demo_project
    from projections.serialize import to_jsonable

    ws = _workspace(ctx, workspace_dir)
    project_id, command = ensure_demo_project(ws)
    if command is not None:
        click.echo(f"importing {ws.demo_source()} (job {command.id})")
        job = _wait(ws, project_id, command.id)
        _report_end(job)
        _print_import_summary(ws, project_id, command.id)
    dataset = commands.dataset_view(ws, project_id)
    if "default" not in dataset.splits and dataset.images:
        commands.create_split(ws, project_id, "default")
        dataset = commands.dataset_view(ws, project_id)
    counts = to_jsonable(dataset.class_counts_by_subset("default")) if dataset.splits else {}
    click.echo(f"\nproject {DEMO_NAME!r} ({project_id}) in workspace {ws.root}")
    click.echo(f"  {len(dataset.images)} images, {len(dataset.classes)} classes: {dataset.classes}")
    click.echo(f"  split 'default' per subset and class: {json.dumps(counts)}")
    click.echo(f"\nnext: aistudio show '{DEMO_NAME}' dataset | aistudio serve")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8050, show_default=True)
@click.option("--no-worker", is_flag=True, help="Do not start a worker with the web app.")
@click.option(
    "--token",
    default=None,
    help="Require this token of every request (default: the workspace's serve_token setting; "
    "else one is generated when --host is not loopback).",
)
@workspace_option
@click.pass_context
@handle_errors
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    no_worker: bool,
    token: str | None,
    workspace_dir: Path | None,
) -> None:
    """Start the web app and a worker it restarts when it dies; Ctrl-C stops both."""
    from aistudio.serve import ServeError, run_serve

    ws = _workspace(ctx, workspace_dir)
    try:
        run_serve(ws, host, port, worker=not no_worker, token=token, announce=click.echo)
    except ServeError as exc:
        _fail(str(exc), 2)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="aistudio")


if __name__ == "__main__":
    main()
