"""A link to a job's events on the History page: what a success message offers instead of the
job's id (ids are for scripts; a person follows the link)."""

from __future__ import annotations

from dash import dcc, html

from ui.components.sidebar import project_page_path


def job_events_href(project_id: str, command_seq: int) -> str:
    """The History page of ``project_id`` with the job's command (event ``command_seq``)
    selected: its inspector lists the events the job caused."""
    return f"{project_page_path(project_id, 'history')}?seq={command_seq}"


def job_events_link(project_id: str, command_seq: int, text: str = "Its events") -> dcc.Link:
    """``Its events →``, linking to the job's command on the History page."""
    return history_link(job_events_href(project_id, command_seq), text)


def history_link(href: str, text: str = "Its events") -> dcc.Link:
    """``Its events →`` to ``href`` (from :func:`job_events_href`), styled for an alert."""
    return dcc.Link(
        [text, html.I(className="bi bi-arrow-right-short")],
        href=href,
        className="alert-link job-events-link",
    )
