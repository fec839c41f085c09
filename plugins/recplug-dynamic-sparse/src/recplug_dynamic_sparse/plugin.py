"""Hook implementations of recplug-dynamic-sparse (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations
