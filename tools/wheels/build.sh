#!/usr/bin/env bash
# Build every recplug distribution (the core, the two pipeline packages, every plugin) into one wheelhouse:
# an sdist and a wheel each, with the LICENSE and the distribution's own README as its long description.
#   tools/wheels/build.sh                 # -> wheelhouse/ (git-ignored), emptied first
#   OUTDIR=../wheels tools/wheels/build.sh  # elsewhere
#   BUILD_ARGS=--no-isolation tools/wheels/build.sh   # offline: use the venv's setuptools (>= 77) instead of
#                                                     # fetching it into a fresh build environment
# Install from it with: pip install --find-links wheelhouse recplug-ssl   (torchrec: see tools/env/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PY=${PYTHON:-"$ROOT/.venv/bin/python"}
OUTDIR=${OUTDIR:-"$ROOT/wheelhouse"}
read -r -a extra <<<"${BUILD_ARGS:-}"

if ! "$PY" -c "import build" 2>/dev/null; then
  echo "wheels: installing 'build' (pinned in tools/env/constraints-cpu.txt)"
  "$PY" -m pip install --disable-pip-version-check -q build -c tools/env/constraints-cpu.txt
fi

dists=()
for dir in packages/*/ plugins/*/; do
  [ -f "$dir/pyproject.toml" ] && dists+=("${dir%/}")
done

# Each distribution ships a copy of the repository's LICENSE (setuptools takes license files only from inside
# the project folder); refuse to build when a copy is missing or differs.
for dir in "${dists[@]}"; do
  for f in LICENSE README.md; do
    [ -f "$dir/$f" ] || { echo "wheels: error: $dir/$f is missing" >&2; exit 1; }
  done
  cmp -s LICENSE "$dir/LICENSE" || { echo "wheels: error: $dir/LICENSE differs from ./LICENSE (cp LICENSE $dir/)" >&2; exit 1; }
done

rm -rf "$OUTDIR"
mkdir -p "$OUTDIR"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
start=$SECONDS
for dir in "${dists[@]}"; do
  # No --sdist --wheel: that builds both from the source folder. Without them `build` makes the sdist and then
  # the wheel from the unpacked sdist, so a file missing from the sdist breaks the wheel here, not for a user.
  if ! "$PY" -m build --outdir "$OUTDIR" "${extra[@]}" "$dir" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "wheels: error: building $dir failed" >&2
    exit 1
  fi
  # setuptools leaves src/*.egg-info in the source folder (git-ignored).
  echo "wheels: built $dir"
done
echo "wheels: ${#dists[@]} distributions in $((SECONDS - start)) s -> $OUTDIR"
ls -l "$OUTDIR" | awk 'NR > 1 {printf "  %8.1f KiB  %s\n", $5 / 1024, $9}'
