"""Loading the plugin manager and listing plugins imports neither torch nor faiss (every installed plugin)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from recplug.cli.main import main
import contextlib, io
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    code = main(["plugins", "--json"])
heavy = sorted(m for m in ("torch", "faiss", "torchrec", "transformers", "sentence_transformers", "polars") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy, "seconds": time.perf_counter() - t0, "listing": json.loads(buffer.getvalue())}))
"""


def test_listing_plugins_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["heavy"] == [], f"loading plugins imported {report['heavy']}"
    names = {p["name"] for p in report["listing"]}
    assert "recplug.builtins" in names
    assert not [p for p in report["listing"] if p["error"]], report["listing"]
