#!/usr/bin/env bash
# Create or update .venv/ with every recplug package and plugin installed (editable) on a CPU machine.
# Idempotent: does nothing when the requirements, constraints and pyproject files are unchanged.
#   torch 2.13.0 (CPU build) via pip; fbgemm-gpu-cpu 1.8.0; torchrec 1.8.0 with --no-deps so that it
#   cannot pull the CUDA `fbgemm-gpu`, which would overwrite fbgemm-gpu-cpu's files.
# GPU machines: see tools/env/requirements-gpu.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}
stamp_inputs=(tools/env/setup.sh tools/env/requirements-cpu.txt tools/env/constraints-cpu.txt pyproject.toml packages/*/pyproject.toml plugins/*/pyproject.toml)
stamp=$(cat "${stamp_inputs[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.recplug-stamp" ] && [ "$(cat "$VENV/.recplug-stamp")" = "$stamp" ] && [ -x "$VENV/bin/recplug" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
echo "setup: installing into $VENV (a few minutes on a new machine)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
LOG=$(mktemp)
# --no-compile: pip byte-compiles every module of every package (about half of a fresh install on 2 cores, most of
# them never imported); Python compiles what is imported on first use and keeps the .pyc files in the venv.
pip_install() {  # quiet pip; its whole log is printed only when it fails
  if ! "${PIP[@]}" install -q --no-compile "$@" >"$LOG" 2>&1; then cat "$LOG" >&2; echo "setup: pip install $* failed" >&2; exit 1; fi
}
pip_install --upgrade "pip>=24"
pip_install -r tools/env/requirements-cpu.txt -c tools/env/constraints-cpu.txt
pip_install --no-deps torchrec==1.8.0
editable=()
for dir in packages/*/ plugins/*/; do
  [ -f "$dir/pyproject.toml" ] && editable+=(-e "$dir")
done
pip_install -c tools/env/constraints-cpu.txt "${editable[@]}"
# Fail now, not in the middle of a test run, if the CPU stack is broken (e.g. fbgemm-gpu overwrote it).
"$VENV/bin/python" -c "import torch, torchrec, faiss, fbgemm_gpu; assert torch.__version__.startswith('2.13.0'), torch.__version__"
if "${PIP[@]}" show fbgemm-gpu >/dev/null 2>&1; then
  echo "setup: error: the CUDA fbgemm-gpu got installed; it breaks fbgemm-gpu-cpu" >&2
  exit 1
fi
echo "$stamp" > "$VENV/.recplug-stamp"
echo "setup: done; try .venv/bin/recplug plugins"
