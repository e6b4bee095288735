"""Exports of trained models (ONNX, TorchScript), validated against PyTorch on real images.

* :mod:`aistudio.export.job` — the ``ExportRequested`` job handler (``run_export``).
* :mod:`aistudio.export.source` — the experiment, checkpoint and project an export is made of.
* :mod:`aistudio.export.samples` — the real images of the dataset the export is validated on.
* :mod:`aistudio.export.metadata` — the ``aistudio.*`` metadata stored in every exported file.
* :mod:`aistudio.export.onnx_export` / :mod:`aistudio.export.torchscript_export` — writing a
  format and running the written file.
* :mod:`aistudio.export.validate` — comparing the export's outputs with PyTorch's.

Only :mod:`aistudio.export.metadata` is torch-free; the rest runs in job processes.
"""
