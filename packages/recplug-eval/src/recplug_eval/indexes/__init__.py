"""Retrieval indexes registered by recplug-eval (FAISS)."""
