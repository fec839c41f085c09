"""Inference-free learned sparse retrieval with IDF-aware FLOPS (Geng et al. 2024) for recplug."""

__version__ = "0.1.0"
