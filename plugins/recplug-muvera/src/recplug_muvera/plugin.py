"""Hook implementations of recplug-muvera (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations
