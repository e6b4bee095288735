"""Tests of the projections: tables of events in, views out; the incremental projectors."""
