"""Datasets: format readers, image inspection, the content-addressed store, the import job.

Submodules are imported where they are used; importing this package imports nothing heavy.
"""
