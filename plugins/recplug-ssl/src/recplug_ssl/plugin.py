"""Hook implementations of recplug-ssl (loaded through the entry point; imports nothing heavy)."""

from __future__ import annotations
