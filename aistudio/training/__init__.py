"""Training: the experiment pipeline that a ``TrainingRequested`` job runs.

* :mod:`aistudio.training.config`: the configuration checked against the task (torch-free);
* :mod:`aistudio.training.data`: the torch Dataset over one subset of a split and the
  LightningDataModule (decoded images cached in memory when they fit);
* :mod:`aistudio.training.module`: the generic LightningModule (model, loss and metrics from the
  task; optimizer and learning-rate schedule from the config);
* :mod:`aistudio.training.callbacks`: the callback that turns a run into events (progress,
  epochs, checkpoints) and stops it on cancel;
* :mod:`aistudio.training.trainer`: the trainer factory (device, precision, DDP, seed);
* :mod:`aistudio.training.job`: ``run_training(ctx)``, the job handler;
* :mod:`aistudio.training.resources`: the run's estimated memory and time on this machine
  (torch-free: the Training form and the commands use it), the machine's memory, and the guard
  that stops a run on cancel or when memory runs out.

Importing this package, ``config``, ``resources`` or ``job`` is torch-free (the job imports
torch when it runs).
"""
