"""Hook implementations of recplug-flops-idf (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations
