"""Build a large real-text retrieval corpus from the English manual pages Debian installs (issue 34).

No dataset can be downloaded here, so the corpus comes from text that ships in packages: every English manual page
under ``/usr/share/man/man[1-8]`` (not the translations beside them), rendered to plain text by groff (no
hyphenation, one line per paragraph), cut into passages of about ``--words`` words (75 words are about 100
all-MiniLM-L6-v2 WordPiece tokens on this text: measured and written to the manifest) at paragraph boundaries where
possible, exact duplicates dropped (boilerplate such as licence paragraphs repeats across pages). The manual pages of
a Debian system give about 124k passages; to pass 200k, the corpus also takes the docstrings (at least 20 words;
read with ``ast``, nothing imported) of the running interpreter's standard library and site-packages: in this
project's ``.venv`` the packages pinned by ``tools/env/requirements-cpu.txt`` (``--no-python`` leaves them out).

Queries: a seeded share of the pages (``--query-share``) is held out of the corpus; each held-out page with a
one-line summary in its NAME section ("ls - list directory contents") gives one query, the summary ("list directory
contents"). They have no relevance judgments: the benchmark measures quality against exact Chamfer (Recall@10 of
its top 10), as issue 34 asks.

Output: a BEIR folder (``corpus.jsonl``: ``_id``, ``title``, ``text``; ``queries.jsonl``: ``_id``, ``text``) and
``manifest.json`` (the command, counts, the token measurement, the Debian packages that own the pages and their
versions), written whole and swapped in (``recplug.fileio.atomic_folder``).

Command (from the repo root)::

    .venv/bin/python -m tools.bench.muvera.build_corpus --out out/corpora/debian-man
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
SECTIONS = tuple(f"man{i}" for i in range(1, 9))
GROFF = ["groff", "-t", "-e", "-man", "-Tutf8", "-rHY=0", "-rLL=2000n", "-P", "-cbou"]
HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/&()'-]*$")  # a section heading of a rendered page (NAME, SEE ALSO, ...)


@dataclass(frozen=True)
class Page:
    """One rendered manual page: ``name`` (``ls.1``), its summary (NAME line, may be empty) and its paragraphs."""

    name: str
    summary: str
    paragraphs: tuple[str, ...]


def page_files(root: Path = MAN_ROOT, sections: Sequence[str] = SECTIONS) -> list[Path]:
    """The regular ``*.gz`` page files of ``sections`` (symbolic links, which alias another page, left out), sorted."""
    found = [p for s in sections if (root / s).is_dir() for p in (root / s).iterdir()
             if p.suffix == ".gz" and p.is_file() and not p.is_symlink()]
    return sorted(found)


def render(path: Path) -> str:
    """The page as plain UTF-8 text (groff, no hyphenation, no line wrapping); ``""`` for an alias page (``.so``)
    or one groff cannot render."""
    source = gzip.decompress(path.read_bytes())
    if source.lstrip().startswith(b".so "):
        return ""
    done = subprocess.run(GROFF, input=source, capture_output=True, timeout=60, check=False)
    return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else ""


def parse(name: str, text: str) -> Page:
    """Paragraphs of a rendered page (the running header and footer lines dropped, headings kept out of the text)
    and the summary after the dash of its NAME section."""
    lines = text.splitlines()[1:-1]  # the first and last lines are the page's header and footer
    paragraphs, current, section, summary = [], [], "", ""
    for raw in [*lines, ""]:
        line = " ".join(raw.split())
        if raw and not raw[0].isspace() and HEADING.match(line):
            section = line
            continue
        if line:
            current.append(line)
            continue
        if current:
            paragraph, first = " ".join(current), current[0]
            current = []
            if section == "NAME":  # "ls - list directory contents" (its first line: a NAME may list several)
                if not summary and " - " in first:
                    summary = first.split(" - ", 1)[1].strip()
                continue
            paragraphs.append(paragraph)
    return Page(name, summary, tuple(paragraphs))


def load_page(path: Path) -> Page:
    return parse(path.name.removesuffix(".gz"), render(path))


def python_files(roots: Sequence[Path]) -> list[Path]:
    """The ``*.py`` files under ``roots`` (the interpreter's standard library and site-packages), sorted."""
    return sorted({p for root in roots if root.is_dir() for p in root.rglob("*.py") if p.is_file()})


def docstring_pages(path: Path, root: Path, min_words: int = 20) -> list[Page]:
    """One page per docstring of at least ``min_words`` words in the Python file ``path`` (module, classes,
    functions; read with ``ast``, never imported): named ``py:<module>:<qualified name>``, paragraphs split at
    blank lines, whitespace normalised."""
    import ast

    try:
        if path.stat().st_size > 2_000_000:
            return []
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError, RecursionError):
        return []
    module = ".".join(path.relative_to(root).with_suffix("").parts)
    pages: list[Page] = []

    def visit(node: ast.AST, prefix: str) -> None:
        text = ast.get_docstring(node, clean=True) if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) else None
        if text and len(text.split()) >= min_words:
            paragraphs = tuple(" ".join(block.split()) for block in text.split("\n\n") if block.strip())
            pages.append(Page(f"py:{module}:{prefix or '<module>'}", "", paragraphs))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"{prefix}.{child.name}" if prefix else child.name)

    visit(tree, "")
    return pages


def load_python_file(item: tuple[Path, Path]) -> list[Page]:
    return docstring_pages(*item)


def passages(page: Page, words: int) -> Iterator[str]:
    """Passages of about ``words`` words: paragraphs gathered until they reach it; a longer paragraph is cut into
    pieces of ``words`` words (its last piece joins the next passage when short)."""
    buffer: list[str] = []
    for paragraph in page.paragraphs:
        tokens = paragraph.split()
        while len(buffer) + len(tokens) > words:
            take = words - len(buffer)
            if buffer and take < words // 3:  # the paragraph does not fit: close the passage before it
                yield " ".join(buffer)
                buffer = []
                continue
            yield " ".join(buffer + tokens[:take])
            buffer, tokens = [], tokens[take:]
        buffer += tokens
        if len(buffer) >= words * 2 // 3:
            yield " ".join(buffer)
            buffer = []
    if buffer:
        yield " ".join(buffer)


def held_out(name: str, share: float, seed: int) -> bool:
    """Whether page ``name`` is held out for queries: a seeded hash, so the split does not depend on page order."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64 < share


def owning_packages(root: Path, sections: Sequence[str]) -> dict[str, str]:
    """Debian packages that own files in the ``sections`` folders, with their versions (``dpkg -S``); empty where
    dpkg is missing."""
    try:
        owners = subprocess.run(["dpkg", "-S", *[str(root / s) for s in sections]], capture_output=True, text=True,
                                check=False).stdout
        names = sorted({p.strip().split(":")[0] for line in owners.splitlines() for p in line.rsplit(": ", 1)[0].split(",")})
        listed = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *names], capture_output=True,
                                text=True, check=False).stdout
    except FileNotFoundError:
        return {}
    return dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)


def measure_tokens(texts: Sequence[str], sample: int = 2000, seed: int = 0) -> dict[str, float]:
    """WordPiece tokens per passage of all-MiniLM-L6-v2 (special tokens excluded) on a seeded sample."""
    import random

    from recplug_eval import minilm_dir
    from transformers import AutoTokenizer

    picks = random.Random(seed).sample(range(len(texts)), min(sample, len(texts)))
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    lengths = sorted(len(ids) for ids in tokenizer([texts[i] for i in picks], add_special_tokens=False,
                                                   verbose=False)["input_ids"])
    return {"sample": len(lengths), "mean": sum(lengths) / len(lengths), "median": lengths[len(lengths) // 2],
            "p95": lengths[int(len(lengths) * 0.95)], "max": lengths[-1]}


def build(files: Iterable[Path], words: int, query_share: float, seed: int, jobs: int,
          python_items: Sequence[tuple[Path, Path]] = ()) -> tuple[list[dict], list[dict], dict]:
    """Corpus rows, query rows and counts from the manual page ``files`` and the Python files ``python_items``
    (``(file, root)`` pairs; their docstrings join the corpus, never the queries)."""
    files = list(files)
    corpus: list[dict] = []
    queries: list[dict] = []
    seen: set[str] = set()
    counts = {"pages": len(files), "rendered": 0, "held_out": 0, "python_files": len(python_items), "docstrings": 0,
              "duplicates_dropped": 0}

    names: dict[str, int] = {}

    def unique(name: str) -> str:
        """``name``, or ``name~2``, ``name~3``, ... for the second, third page of that name (a property's getter and
        setter both have docstrings; ids must be unique in a BEIR folder)."""
        names[name] = names.get(name, 0) + 1
        return name if names[name] == 1 else f"{name}~{names[name]}"

    def add(page: Page) -> None:
        name = unique(page.name)
        for i, text in enumerate(passages(page, words)):
            key = hashlib.sha256(text.encode()).hexdigest()
            if key in seen:
                counts["duplicates_dropped"] += 1
                continue
            seen.add(key)
            corpus.append({"_id": f"{name}#{i}", "title": name, "text": text})

    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for done, page in enumerate(pool.map(load_page, files, chunksize=64), 1):
            if done % max(len(files) // 10, 1) == 0:
                print(f"pages: {done:,}/{len(files):,} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
            if not page.paragraphs:
                continue
            counts["rendered"] += 1
            if held_out(page.name, query_share, seed):
                counts["held_out"] += 1
                if len(page.summary.split()) >= 3:
                    queries.append({"_id": unique(page.name), "text": page.summary})
                continue
            add(page)
        for done, found in enumerate(pool.map(load_python_file, python_items, chunksize=256), 1):
            if done % max(len(python_items) // 10, 1) == 0:
                print(f"python files: {done:,}/{len(python_items):,} ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr, flush=True)
            counts["docstrings"] += len(found)
            for page in found:
                add(page)
    return corpus, queries, counts


def recorded_command(args: Sequence[str]) -> str:
    """The command for the manifest, without ``--out DIR`` (where it was written says nothing about what was built and
    would put a path of one machine into the record)."""
    kept, skip = [], False
    for arg in args:
        if skip or arg == "--out" or arg.startswith("--out="):
            skip = arg == "--out"
            continue
        kept.append(arg)
    return " ".join(["python -m tools.bench.muvera.build_corpus", *kept, "--out DIR"])


def portable(path: Path) -> str:
    """``path`` relative to the interpreter's prefix (``{prefix}/lib/...``, ``{base_prefix}/lib/...``) where it lies
    inside one, so that the manifest names no folder of one machine."""
    for name in ("prefix", "base_prefix"):
        root = Path(getattr(sys, name))
        if path.is_relative_to(root):
            return f"{{{name}}}/{path.relative_to(root)}"
    return str(path)


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/corpora/debian-man", help="the BEIR folder to write")
    parser.add_argument("--words", type=int, default=75, help="words per passage (about 100 WordPiece tokens)")
    parser.add_argument("--query-share", type=float, default=0.01, help="share of pages held out for queries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pages", type=int, default=None, help="read only this many pages (a quick build)")
    parser.add_argument("--jobs", type=int, default=2, help="groff processes")
    parser.add_argument("--root", default=str(MAN_ROOT), help="manual page root (default: /usr/share/man)")
    parser.add_argument("--no-python", action="store_true",
                        help="leave out the docstrings of this interpreter's standard library and site-packages")
    args = parser.parse_args(argv)
    from recplug.errors import ConfigError
    from recplug.fileio import atomic_folder

    if args.words < 10 or not 0 < args.query_share < 1 or args.jobs < 1:
        raise ConfigError("--words must be at least 10, --query-share in (0, 1), --jobs at least 1")
    root = Path(args.root)
    files = page_files(root)[: args.max_pages]
    if not files:
        raise ConfigError(f"{root}: no manual pages under man1..man8 (install some, e.g. apt-get install manpages)")
    python_roots = [] if args.no_python else sorted({Path(p) for k, p in sysconfig.get_paths().items()
                                                      if k in ("stdlib", "purelib", "platlib")})
    python_items = [(f, root) for root in python_roots for f in python_files([root])
                    if not any(r != root and r.is_relative_to(root) and f.is_relative_to(r) for r in python_roots)]
    started = time.perf_counter()
    corpus, queries, counts = build(files, args.words, args.query_share, args.seed, args.jobs, python_items)
    if not corpus or not queries:
        raise ConfigError(f"{root}: {len(corpus)} passages and {len(queries)} queries: too few pages")
    manifest = {
        "command": recorded_command(argv if argv is not None else sys.argv[1:]),
        "source": f"English manual pages under {root}/man1..man8, rendered by groff 'groff -man -Tutf8 -rHY=0'"
                  + ("" if args.no_python else "; docstrings (>= 20 words) of the Python files of this interpreter's "
                     "standard library and site-packages, read with ast"),
        "words_per_passage": args.words, "query_share": args.query_share, "seed": args.seed,
        **counts, "passages": len(corpus), "queries": len(queries),
        "minilm_tokens_per_passage": measure_tokens([row["text"] for row in corpus], seed=args.seed),
        "build_seconds": round(time.perf_counter() - started, 1),
        "debian_packages": owning_packages(root, SECTIONS),
        "python": {"version": platform.python_version(), "roots": [portable(r) for r in python_roots],
                   "distributions": {d.metadata["Name"]: d.version for d in metadata.distributions()} if python_roots else {}},
    }
    with atomic_folder(Path(args.out)) as staging:
        write_jsonl(staging / "corpus.jsonl", corpus)
        write_jsonl(staging / "queries.jsonl", queries)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tokens = manifest["minilm_tokens_per_passage"]
    print(f"{args.out}: {len(corpus):,} passages ({tokens['mean']:.0f} MiniLM tokens on average), {len(queries):,} "
          f"queries, from {counts['rendered']:,} pages in {manifest['build_seconds']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
