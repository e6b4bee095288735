"""The banner above every page: what stops jobs or a project from working right now.

It takes plain sentences, each None when all is well, so it knows nothing of where they come
from (serve's worker supervisor, the project's log check, the worker's quarantine list):

- ``worker``: no worker is alive ("jobs are not running: the worker exited (code 1) at 12:03:05,
  restarting in 4 s", or "no worker is running: start `aistudio worker`");
- ``damage``: the current project's log is damaged ("this project's log is damaged at line 7:
  run `aistudio verify`");
- ``quarantine``: the worker has set the current project aside (the worker's reason);
- ``skipped``: events of the current project's log that this version does not read (kept in the
  log, skipped by the views; the History page lists them).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

DAMAGE_PREFIX = "this project's log is damaged"
QUARANTINE_PREFIX = "the worker has set this project aside"


def damage_sentence(line: int | None, detail: str | None = None) -> str:
    """The banner's sentence for a damaged log (``line``: the first bad line, when known)."""
    where = f" at line {line}" if line is not None else ""
    extra = f" ({detail})" if detail else ""
    return f"{DAMAGE_PREFIX}{where}{extra}: run `aistudio verify`"


def quarantine_sentence(reason: str) -> str:
    """The banner's sentence for a project the worker has set aside, with its reason."""
    return f"{QUARANTINE_PREFIX}: {reason}"


def _alert(kind: str, text: str, icon: str, color: str) -> dbc.Alert:
    return dbc.Alert(
        [html.I(className=f"bi {icon} me-2"), text],
        color=color,
        className=f"py-2 mb-2 app-banner app-banner-{kind}",
    )


def skipped_sentence(count: int) -> str:
    """The banner's sentence for ``count`` events the views do not read."""
    events = f"{count:,} event{'s' if count != 1 else ''} of this log"
    verb = "is" if count == 1 else "are"
    return (
        f"{events} {verb} not read by this version (kept in the log, skipped by every view): "
        "the History page lists them"
    )


def worker_banner(
    worker: str | None = None,
    damage: str | None = None,
    quarantine: str | None = None,
    skipped: str | None = None,
) -> list[dbc.Alert]:
    """The alerts to show above the page (an empty list when there is nothing to say).

    Args:
        worker: why no job runs (no worker alive), or None.
        damage: the current project's damaged-log sentence, or None.
        quarantine: why the worker set the current project aside, or None.
        skipped: the sentence about events the views do not read, or None.

    Returns:
        One alert per sentence given, most severe first.
    """
    alerts: list[dbc.Alert] = []
    if damage:
        alerts.append(_alert("damage", damage, "bi-exclamation-octagon-fill", "danger"))
    if quarantine:
        alerts.append(_alert("quarantine", quarantine, "bi-sign-stop-fill", "warning"))
    if worker:
        alerts.append(_alert("worker", worker, "bi-exclamation-triangle-fill", "warning"))
    if skipped:
        alerts.append(_alert("skipped", skipped, "bi-info-circle-fill", "info"))
    return alerts
