"""MUVERA fixed dimensional encodings (Dhulipala et al. 2024) and exact Chamfer reranking for recplug."""

__version__ = "0.1.0"
