# The two commands of the README. Both create/update .venv/ first (tools/env/setup.sh; idempotent).
.PHONY: demo test setup lint
setup:
	bash tools/env/setup.sh

demo: setup
	.venv/bin/recplug demo

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check packages plugins integration_tests tools noxfile.py
	.venv/bin/mypy
