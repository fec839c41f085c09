"""Training loop of the two-tower model: regularizers, compressor steps, evaluation, checkpoints.

Under ``torchrun`` with ``sharding`` set, each rank trains on its slice of every global batch and the
in-batch softmax uses the items of all ranks (:func:`gather_candidates`), so a 2-process run follows the
1-process run up to floating-point order.

One epoch is a pass over the training interactions in an order drawn from ``(seed, epoch)`` only, with
the last incomplete batch dropped, so a run resumed from an epoch checkpoint is the same as an
uninterrupted one. After every epoch the model is evaluated on the validation split (full ranking,
training items excluded); the epoch with the best ``select_metric`` is kept in ``best.pt`` and its test metrics (training and
validation items excluded, as RecBole does) are the run's result. With ``patience`` set, training stops once that
many epochs in a row have not improved on the best (``epochs`` is then a cap).

Files in ``output_dir``: ``checkpoint.pt`` (last finished epoch: model, optimizers, history),
``best.pt``, ``history.json`` / ``history.csv`` (one row per epoch), ``metrics.json`` (best epoch's
valid and test metrics, overall and head/tail). All are written atomically and read with
``torch.load(weights_only=True)``. Sharded runs (``sharding != "none"``) write metrics but no checkpoints.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, InvalidInputError, RecplugError
from recplug.fileio import atomic_save_with, atomic_write_json, atomic_write_text
from recplug.protocols import CompressorCapabilities, EmbeddingCompressor, check_protocol

from recplug_recsys.config import TrainConfig
from recplug_recsys.data import RunData, load_run_data
from recplug_recsys.features import FeatureSpace
from recplug_recsys.model import TowerConfig, TwoTowerModel, in_batch_softmax_loss
from recplug_recsys.schema import FittedSchema
from recplug_recsys.sharding import TABLE_OPTIMIZERS, unwrap

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 2  # 2: the fitted feature schema is saved with the model


class TrainingDivergedError(RecplugError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def build_model(config: TrainConfig, schema: FittedSchema, compressor: Any) -> TwoTowerModel:
    """The two-tower model of ``config`` over the tables of ``schema`` (initialised from ``config.seed``)."""
    m = config.model
    torch.manual_seed(config.seed)
    return TwoTowerModel(
        schema.table_specs(schema.user_features),
        schema.table_specs(schema.item_features),
        compressor,
        TowerConfig(m.embedding_dim, tuple(m.hidden), m.output_dim),
    )


def create_regularizers(config: TrainConfig, pm: Any, model: TwoTowerModel, data: RunData | None = None) -> list[Any]:
    """Regularizers by name through the plugin manager: ``model=`` for records with ``needs_model``;
    ``feature_space=`` (every item's features) and ``train_item_ids=`` (the click log's item ids, N) for
    records with ``needs_item_features``."""
    out = []
    for component in config.regularizers:
        spec = pm.get("regularizer", component.name)
        options = dict(component.options)
        if spec.needs_model:
            options["model"] = model
        if spec.needs_item_features and data is not None:
            options["feature_space"] = data.features
            options["train_item_ids"] = data.train["item_id"].to_numpy()
        try:
            out.append(spec.create(**options))
        except TypeError as exc:
            raise ConfigError(f"regularizer {component.name!r}: bad options {sorted(component.options)} ({exc})") from exc
    return out


@torch.no_grad()
def embed_all(model: torch.nn.Module, features: FeatureSpace, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """``(users U x D, items I x D)`` embeddings of every user and item."""
    inner = unwrap(model)
    was_training = inner.training
    inner.eval()
    users = [inner.user_tower(features.user_kjt(torch.arange(s, min(s + batch_size, features.num_users))))
             for s in range(0, features.num_users, batch_size)]
    items = [inner.item_tower(features.item_kjt(torch.arange(s, min(s + batch_size, features.num_items))))
             for s in range(0, features.num_items, batch_size)]
    inner.train(was_training)
    return torch.cat(users).cpu(), torch.cat(items).cpu()


def evaluate(
    model: torch.nn.Module, data: RunData, which: str, ks: tuple[int, ...], index_factory: Any = None,
    max_users: int | None = None,
) -> dict[str, float]:
    """Full-ranking metrics on ``which`` (``"valid"``: train excluded; ``"test"``: train + valid excluded).

    ``index_factory(dimension)`` (optional) builds a retrieval index that holds the item embeddings (ids =
    item ids) and answers the top-k searches; default: exact torch matrix products. ``max_users``: score a fixed
    sample (seed 0) of that many of the split's users (large data); ``None``: all.
    """
    import polars as pl
    from recplug_eval.recsys_metrics import full_ranking_metrics, popularity_head_mask

    users, items = embed_all(model, data.features)
    index = None
    if index_factory is not None:
        index = index_factory(items.shape[1])
        index.add(items.numpy(), np.arange(items.shape[0], dtype=np.int64))
    head = popularity_head_mask(data.train, data.features.num_items)
    target, exclude = (data.valid, [data.train]) if which == "valid" else (data.test, [data.train, data.valid])
    candidates = target["user_id"].unique().sort().to_numpy()
    if max_users is not None and len(candidates) > max_users:
        sample = pl.Series(np.random.default_rng(0).choice(candidates, max_users, replace=False)).implode()
        target = target.filter(pl.col("user_id").is_in(sample))
        exclude = [frame.filter(pl.col("user_id").is_in(sample)) for frame in exclude]
    batch = max(1, min(1024, 2**27 // max(1, items.shape[0])))  # scores of one batch <= 512 MB
    return full_ranking_metrics(users, items, target, exclude, ks=ks, head_mask=head, index=index, batch_size=batch)


def gather_candidates(items: torch.Tensor, item_ids: torch.Tensor, rank: int) -> tuple[torch.Tensor, ...]:
    """All ranks' in-batch items (``W*B x D``, differentiable) and ids, and the local positives' columns.

    With every rank's loss over the global candidates, the gradient averaged by DDP equals the
    single-process gradient of the same global batch (sharded tables get ``W`` times it; Adagrad is
    invariant to that scale).
    """
    import torch.distributed as dist
    import torch.distributed.nn.functional as dist_fn

    gathered = torch.cat(dist_fn.all_gather(items))
    ids = [torch.empty_like(item_ids) for _ in range(dist.get_world_size())]
    dist.all_gather(ids, item_ids)
    positives = torch.arange(len(item_ids), device=items.device) + rank * len(item_ids)
    return gathered, torch.cat(ids), positives


class Trainer:
    """Trains and evaluates one :class:`TrainConfig`.

    Args:
        config: the run.
        pm: plugin manager (default: :func:`recplug.manager.load_plugin_manager`).
    """

    def __init__(self, config: TrainConfig, pm: Any = None) -> None:
        from recplug.manager import load_plugin_manager
        from recplug_eval.paths import check_output_dir

        self.config = config
        self.pm = pm or load_plugin_manager()
        self.output_dir = check_output_dir(config.output_dir, "output_dir")  # a file there fails now, not after epoch 1
        self.rank, self.world = 0, 1
        # fail early on unknown components, before any data is read
        self.compressor = check_protocol(
            self.pm.get("embedding_compressor", config.compressor.name).create(**config.compressor.options),
            EmbeddingCompressor, f"compressor {config.compressor.name!r}",
        )
        for component in config.regularizers:
            self.pm.get("regularizer", component.name)
        self.index_factory = None
        if config.eval_index is not None:
            spec, options = self.pm.get("retrieval_index", config.eval_index.name), config.eval_index.options
            self.index_factory = lambda dimension: spec.create(dimension=dimension, metric="ip", **options)
        if config.sharding != "none":
            caps = self.compressor.capabilities
            if not isinstance(caps, CompressorCapabilities):
                raise ConfigError(f"compressor {config.compressor.name!r}: capabilities must be a CompressorCapabilities, "
                                  f"got {type(caps).__name__}")
            missing = [flag for flag, ok in (("fused", caps.fused), ("sharded", caps.sharded)) if not ok]
            if missing:
                raise ConfigError(f"compressor {config.compressor.name!r} lacks {sorted(missing)}: cannot be sharded")
        saved = self._saved_schema() if config.resume and config.sharding == "none" else None
        self.data = load_run_data(config, self.pm, saved)
        if self.data.train.height < config.batch_size:
            raise InvalidInputError(
                f"{self.data.train.height} training interactions are fewer than one batch of {config.batch_size}"
            )
        self.model: torch.nn.Module = build_model(config, self.data.features.schema, self.compressor)
        self.regularizers = create_regularizers(config, self.pm, self.model, self.data)
        self._build_optimizers()
        counts = np.bincount(self.data.train["item_id"].to_numpy(), minlength=self.data.features.num_items)
        self.log_q = torch.log(torch.as_tensor(np.maximum(counts, 1) / counts.sum(), dtype=torch.float32))
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": -1, "value": -math.inf}
        self.epoch, self.step = 0, 0
        self._requires_checked = False

    # ------------------------------------------------------------------------------------- setup
    def _build_optimizers(self) -> None:
        c = self.config
        if c.sharding != "none":
            from recplug_recsys.sharding import init_distributed, shard_model

            self.rank, self.world, _ = init_distributed()
            if c.batch_size % self.world:
                raise ConfigError(f"batch_size {c.batch_size} is not divisible by {self.world} ranks")
            self.model, optimizer = shard_model(
                self.model, c.sharding, c.lr, c.table_optimizer, c.table_lr, c.weight_decay
            )
            self.optimizers = [optimizer]
            return
        if c.table_optimizer not in TABLE_OPTIMIZERS:
            raise ConfigError(f"table_optimizer must be one of {sorted(TABLE_OPTIMIZERS)}, got {c.table_optimizer!r}")
        model = cast(TwoTowerModel, self.model)  # not sharded: the TwoTowerModel itself
        tables = [*model.user_ebc.parameters(), *model.item_ebc.parameters()]
        table_ids = {id(p) for p in tables}
        dense = [p for p in model.parameters() if id(p) not in table_ids]
        table_optimizer = TABLE_OPTIMIZERS[c.table_optimizer](tables, lr=c.table_lr)
        self.optimizers = [table_optimizer, torch.optim.Adam(dense, lr=c.lr, weight_decay=c.weight_decay)]
        self.compressor.attach_optimizer(table_optimizer)

    @property
    def inner(self) -> TwoTowerModel:
        return unwrap(self.model)

    # ------------------------------------------------------------------------------------- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / "checkpoint.pt"

    def _saved_schema(self) -> FittedSchema | None:
        """The fitted schema of the checkpoint a resumed run continues (applied, never refitted)."""
        if not self.checkpoint_path.exists():
            return None
        # memory-mapped: only the schema is read now; fit() reads the tensors when it restores them
        return schema_of(self._read(self.checkpoint_path, mmap=True), self.checkpoint_path)

    @staticmethod
    def _read(path: Path, mmap: bool = False) -> dict[str, Any]:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except Exception as exc:
            raise CorruptFileError(f"{path}: cannot be read as a checkpoint ({exc})") from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise IncompatibleFileError(f"{path}: not a recplug-recsys checkpoint of format {CHECKPOINT_FORMAT} "
                                        "(written by another version: retrain, or use another output_dir)")
        return state

    def save_checkpoint(self) -> None:
        if self.config.sharding != "none":
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizers": [o.state_dict() for o in self.optimizers],
            "history": json.dumps(self.history),
            "best": json.dumps(self.best),
            "identity": json.dumps(self.config.run_identity(), sort_keys=True),
            "torch_rng": torch.get_rng_state(),  # regularizers (e.g. SSL masking) draw from it
            "schema": self.data.features.schema.to_json(),
        }
        atomic_save_with(self.checkpoint_path, lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimizers, epoch and history from ``path`` (``weights_only=True``)."""
        state = self._read(path)
        mine = json.dumps(self.config.run_identity(), sort_keys=True)
        if state["identity"] != mine:
            theirs = json.loads(state["identity"])
            diff = sorted(k for k in set(theirs) | set(json.loads(mine)) if theirs.get(k) != json.loads(mine).get(k))
            raise IncompatibleFileError(f"{path}: was written with other settings ({', '.join(diff)}); "
                                        "use another output_dir or set resume = false")
        self.model.load_state_dict(state["model"])
        for optimizer, saved in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(saved)
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        self.history, self.best = json.loads(state["history"]), json.loads(state["best"])

    def _save_best(self) -> None:
        if self.rank == 0 and self.config.sharding == "none":
            state = {"format": CHECKPOINT_FORMAT, "epoch": self.epoch, "model": self.model.state_dict(),
                     "config": json.dumps(self.config.to_dict()), "schema": self.data.features.schema.to_json()}
            atomic_save_with(self.output_dir / "best.pt", lambda tmp: torch.save(state, tmp))

    # ------------------------------------------------------------------------------------- training
    def _batch(self, users: torch.Tensor, items: torch.Tensor) -> dict[str, Any]:
        f = self.data.features
        return {"user_ids": users, "item_ids": items, "user_features": f.user_kjt(users), "item_features": f.item_kjt(items)}

    def train_step(self, users: torch.Tensor, items: torch.Tensor) -> dict[str, float]:
        """One optimizer step on ``B`` (user, item) positives; returns the loss parts."""
        batch = self._batch(users, items)
        outputs = self.model(batch)
        if not self._requires_checked:
            for reg in self.regularizers:
                missing = set(reg.requires) - set(outputs)
                if missing:
                    raise ConfigError(f"regularizer {reg.name!r} needs outputs {sorted(missing)}; "
                                      f"the model gives {sorted(outputs)}")
            self._requires_checked = True
        candidates, candidate_ids, positives = outputs["item_embeddings"], items, None
        if self.world > 1:
            candidates, candidate_ids, positives = gather_candidates(candidates, items, self.rank)
        m = self.config.model
        log_q = m.log_q_weight * self.log_q[candidate_ids] if m.log_q else None
        main = in_batch_softmax_loss(outputs["query_embeddings"], candidates, candidate_ids,
                                     self.config.model.temperature, log_q, positives)
        total = main
        logged = {"loss/main": main.detach()}
        for reg in self.regularizers:
            parts = reg(batch, outputs)
            weight = float(reg.schedule(self.step))
            total = total + weight * sum(parts.values())
            logged |= {f"{reg.name}/{k}": v.detach() for k, v in parts.items()}
            logged[f"{reg.name}/weight"] = torch.tensor(weight, dtype=torch.float64)
        self._check_finite(total, logged)
        for optimizer in self.optimizers:
            optimizer.zero_grad()
        total.backward()
        for optimizer in self.optimizers:
            optimizer.step()
        for module in (self.inner.user_ebc, self.inner.item_ebc):
            stats = self.compressor.after_optimizer_step(module, self.step)
            logged |= {f"{self.config.compressor.name}/{k}": torch.tensor(float(v), dtype=torch.float64) for k, v in (stats or {}).items()}
        self.step += 1
        logged["loss/total"] = total.detach()
        return {k: float(v) for k, v in logged.items()}

    def _check_finite(self, total: torch.Tensor, logged: Mapping[str, torch.Tensor]) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(total) else 1.0])
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(bad)
        if bad.item() > 0:
            parts = ", ".join(f"{k}={float(v):.4g}" for k, v in logged.items())
            kept = (f"the last good checkpoint {self.checkpoint_path} (epoch {self.epoch}) is kept"
                    if self.checkpoint_path.exists() else "no checkpoint was written yet")
            raise TrainingDivergedError(
                f"loss is not finite at epoch {self.epoch + 1}, step {self.step} ({parts}); {kept}. "
                "Lower the learning rates or regularizer weights."
            )

    def _epoch_order(self, epoch: int, n: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=generator)

    def patience_ran_out(self) -> bool:
        """Whether ``config.patience`` epochs in a row have passed without a new best validation value."""
        patience = self.config.patience
        return patience is not None and self.best["epoch"] > 0 and self.epoch - self.best["epoch"] >= patience

    def fit(self) -> dict[str, Any]:
        """Train for ``config.epochs`` or until ``config.patience`` runs out (resuming if a checkpoint exists),
        then score the best epoch on test."""
        from recplug_eval.paths import make_output_dir
        from recplug_eval.progress import progress

        c = self.config
        if self.rank == 0:
            make_output_dir(self.output_dir, "output_dir")
            atomic_write_text(self.output_dir / "schema.json", self.data.features.schema.to_json())
        if c.resume and c.sharding == "none" and self.checkpoint_path.exists():
            self.load_checkpoint(self.checkpoint_path)
            log.info("resumed from %s at epoch %d", self.checkpoint_path, self.epoch)
        users, items = self.data.train_pairs
        n = len(users)
        steps = n // c.batch_size if c.max_steps_per_epoch is None else min(n // c.batch_size, c.max_steps_per_epoch)
        local = c.batch_size // self.world
        while self.epoch < c.epochs and not self.patience_ran_out():
            order = self._epoch_order(self.epoch, n)
            sums: dict[str, float] = {}
            start = time.perf_counter()
            self.model.train()
            bar = progress(range(steps), desc=f"epoch {self.epoch + 1}/{c.epochs}", disable=not c.progress or bool(self.rank),
                       leave=False)
            for s in bar:
                rows = order[s * c.batch_size : (s + 1) * c.batch_size][self.rank * local : (self.rank + 1) * local]
                parts = self.train_step(users[rows], items[rows])
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{parts['loss/total']:.4f}")
            seconds = time.perf_counter() - start
            self.epoch += 1
            valid = evaluate(self.model, self.data, "valid", c.eval_ks, self.index_factory, c.eval_users)
            row = {"epoch": self.epoch, "step": self.step, "seconds": seconds,
                   "examples_per_second": steps * c.batch_size / max(seconds, 1e-9),
                   **{k: v / max(steps, 1) for k, v in sums.items()},
                   **{f"valid/{k}": v for k, v in valid.items()}}
            self.history.append(row)
            if c.select_metric not in valid:
                raise ConfigError(f"select_metric {c.select_metric!r} is not one of {sorted(valid)}")
            if valid[c.select_metric] > self.best["value"]:
                test = evaluate(self.model, self.data, "test", c.eval_ks, self.index_factory, c.eval_users)
                self.best = {"epoch": self.epoch, "value": valid[c.select_metric], "test": test}
                self._save_best()
            if self.rank == 0:
                self.save_checkpoint()
                self._write_history()
                log.info("epoch %d: %s", self.epoch, {k: round(v, 4) for k, v in row.items() if "@10" in k})
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Test metrics of the best epoch; writes ``metrics.json``."""
        c = self.config
        test = self.best.get("test") or evaluate(self.model, self.data, "test", c.eval_ks, self.index_factory, c.eval_users)
        best_row = next((r for r in self.history if r["epoch"] == self.best["epoch"]), {})
        result = {
            "dataset": c.data.dataset, "split": c.data.split, "best_epoch": self.best["epoch"],
            "epochs_run": self.epoch, "stopped_early": self.epoch < c.epochs,
            "valid": {k[len("valid/"):]: v for k, v in best_row.items() if k.startswith("valid/")},
            "test": test, "world_size": self.world,
            "examples_per_second": float(np.mean([r["examples_per_second"] for r in self.history]))
            if self.history else 0.0,
            "config": c.to_dict(),
        }
        if self.rank == 0:
            atomic_write_json(self.output_dir / "metrics.json", result)
        return result

    def _write_history(self) -> None:
        atomic_write_json(self.output_dir / "history.json", self.history)
        columns = sorted({k for row in self.history for k in row}, key=lambda k: (k not in ("epoch", "step"), k))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(self.output_dir / "history.csv", buffer.getvalue())


def schema_of(state: dict[str, Any], path: Path) -> FittedSchema:
    """The fitted feature schema saved in a checkpoint ``state`` read from ``path``."""
    if "schema" not in state:
        raise IncompatibleFileError(f"{path}: holds no feature schema (written by an older recplug-recsys); retrain")
    return FittedSchema.from_json(state["schema"])


def load_best(run_dir: str | Path, pm: Any) -> tuple[TrainConfig, TwoTowerModel, Any, FittedSchema]:
    """``(config, model, compressor, fitted schema)`` of the ``best.pt`` of a finished run folder."""
    from recplug_eval.metrics import old_measure_name

    from recplug_recsys.config import from_dict

    path = Path(run_dir) / "best.pt"
    if not path.exists():
        raise CorruptFileError(f"{path}: missing (is {run_dir} the output_dir of a finished `recplug train`?)")
    state = Trainer._read(path)
    saved = json.loads(state["config"])
    if isinstance(saved.get("select_metric"), str):  # runs saved before ir-measures names: "mrr@10" -> "RR@10"
        saved["select_metric"] = old_measure_name(saved["select_metric"]) or saved["select_metric"]
    config = from_dict(TrainConfig, saved)
    schema = schema_of(state, path)
    compressor = pm.get("embedding_compressor", config.compressor.name).create(**config.compressor.options)
    model = build_model(config, schema, compressor)
    model.load_state_dict(state["model"])
    return config, model, compressor, schema


def evaluate_run(run_dir: str | Path, ks: tuple[int, ...] | None = None, pm: Any = None) -> dict[str, float]:
    """Test metrics of the ``best.pt`` model of a finished run folder, with the feature schema it was trained
    with (applied to the dataset's tables, not refitted: unseen values take the out-of-vocabulary rows)."""
    from recplug.manager import load_plugin_manager

    pm = pm or load_plugin_manager()
    config, model, _, schema = load_best(run_dir, pm)
    data = load_run_data(config, pm, schema)
    return evaluate(model, data, "test", ks or config.eval_ks, max_users=config.eval_users)
