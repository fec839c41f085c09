"""Offline retrieval evaluation for recplug: datasets, FAISS indexes, metrics, runner, reports, baselines."""

__version__ = "0.1.0"
