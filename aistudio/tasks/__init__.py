"""The task registry: one module per task; the pipeline and the UI ask the registry, never ``if``.

Importing this package is torch-free (task modules import torch only inside their methods).
"""
