"""Evaluation of a trained experiment on subsets of its split (the ``EvaluationRequested`` job).

Importing this package is torch-free; the modules that need torch import it themselves:

* :mod:`~aistudio.evaluation.plan` — what the log says to evaluate (experiment, checkpoint, split,
  the labels the model was trained with); torch-free.
* :mod:`~aistudio.evaluation.inference` — batched inference over images, chunk by chunk.
* :mod:`~aistudio.evaluation.classification_figures` and
  :mod:`~aistudio.evaluation.regression_figures` — the figures of a pass (scikit-learn), used by
  the tasks' :meth:`~aistudio.tasks.base.Task.evaluate`.
* :mod:`~aistudio.evaluation.results` — the per-image results and the report files.
* :mod:`~aistudio.evaluation.job` — the job handler tying them together.
"""
