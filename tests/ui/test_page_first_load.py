"""First loads (issue 11, item 4): a page's layout gives its callbacks what they need, so the
first load neither draws a figure twice nor waits a round trip for a signature it could have.

* The Dataset page's histogram graph holds an empty placeholder of the histogram's height (the
  layout cannot know the browser's theme, so a figure drawn there was drawn again at once by
  its callback, in the browser's theme).
* The Evaluation page's layout stores the page signature its tick callback would compute, so
  its live parts render from the first answer, and the first tick finds nothing new.
"""

from __future__ import annotations

import json
import sys
from types import ModuleType
from typing import Any

import dash
import pytest
from dash.exceptions import PreventUpdate

from aistudio import commands
from aistudio.workspace import Workspace
from events import EventLog, NewEvent
from tests.projections.helpers import image
from tests.trained import Trained
from tests.ui.layout_tree import by_id
from ui.components.dataset_charts import histogram_figure, placeholder_figure
from ui.state import AppState, init_state


def page_module(path_template: str) -> ModuleType:
    """A page module as Dash loaded it (importing it again would register it twice)."""
    entry = next(p for p in dash.page_registry.values() if p.get("path_template") == path_template)
    return sys.modules[entry["module"]]


def project_with(workspace: Workspace, task: str, records: list[dict[str, Any]]) -> str:
    project_id = str(commands.create_project(workspace, f"P {task}", task).data["project_id"])
    new = [NewEvent("ImagesAdded", {"images": records}, actor="job")] if records else []
    if records and task == "classification":
        new.insert(0, NewEvent("ClassesDefined", {"classes": ["cat", "dog", "emu"]}, actor="job"))
    if new:
        EventLog(workspace.events_path(project_id)).append_many(new)
    return project_id


@pytest.mark.parametrize(
    ("task", "records"),
    [
        ("classification", [image(n, label=("cat", "dog", "emu")[n % 3]) for n in range(12)]),
        ("regression", [image(n, value=n / 4) for n in range(12)]),
        ("classification", []),
    ],
    ids=["classes", "values", "no images"],
)
def test_the_dataset_layout_holds_a_placeholder_of_the_histograms_height(
    dash_app: dash.Dash, ui_state: AppState, task: str, records: list[dict[str, Any]]
) -> None:
    page = page_module("/project/<project_id>/dataset")
    project_id = project_with(ui_state.workspace, task, records)
    (graph,) = by_id(page.layout(project_id=project_id), "dataset-histogram")
    dataset = ui_state.view(project_id, "dataset")
    assert graph.figure == placeholder_figure(dataset, task)
    assert graph.figure["data"] == [] and "template" not in graph.figure["layout"]
    drawn = histogram_figure(dataset, task, "dark")
    assert graph.figure["layout"]["height"] == drawn.layout.height
    # The callback draws it on the first load (its inputs are in the layout), themed.
    (meta,) = by_id(page.layout(project_id=project_id), "dataset-meta")
    figure = page.update_histogram(dataset.seq, "dark", None, meta.data)
    assert figure.layout.template.layout.paper_bgcolor is not None  # themed
    assert bool(figure.data) == bool(records)


def test_the_evaluation_layout_stores_the_signature_the_tick_would_compute(
    dash_app: dash.Dash, trained_classification: Trained
) -> None:
    trained = trained_classification
    init_state(trained.workspace)
    page = page_module("/project/<project_id>/evaluate")
    layout = page.layout(project_id=trained.project_id)
    (store,) = by_id(layout, "eval-sig")
    signature = page.page_signature(*page.views(trained.project_id))
    assert store.data == signature
    assert trained.experiment_id in [pair[0] for pair in store.data["experiments"]]
    # The signature callback does not run on the first load (its answer would hold back every
    # callback reading the signature by a round trip) ...
    client = dash_app.server.test_client()
    client.get("/")
    deps = client.get("/_dash-dependencies").json
    (refresh,) = [d for d in deps if d["output"] == "eval-sig.data"]
    assert refresh["prevent_initial_call"] is True
    # ... and its first tick, given the signature back as the browser sends it, finds nothing new.
    echoed = json.loads(json.dumps(store.data))
    with pytest.raises(PreventUpdate):
        page.refresh(1, 0, trained.project_id, None, echoed)
    # The experiment list renders from the layout's signature straight away.
    (selected,) = by_id(layout, "eval-selected")
    runs = page.render_runs(echoed, selected.data, trained.project_id, None)
    assert "tiny" in json.dumps(runs[0].to_plotly_json(), default=str)
    # An event the page shows changes the signature at the next tick.
    commands.request_evaluation(trained.workspace, trained.project_id, trained.experiment_id)
    assert page.refresh(2, 0, trained.project_id, None, echoed) != echoed
