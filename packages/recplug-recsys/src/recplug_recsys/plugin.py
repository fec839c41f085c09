"""Hook implementations of recplug-recsys (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations
