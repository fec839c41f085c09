"""Trainer: exact resume, files, regularizers and compressor hooks, NaN stop, bad components and configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from recplug import hookimpl
from recplug.builtins.dense_tables import DenseTables
from recplug.errors import ConfigError, CorruptFileError, IncompatibleFileError, UnknownComponentError
from recplug.manager import load_plugin_manager
from recplug.protocols import CompressorCapabilities
from recplug.records import EmbeddingCompressorSpec, RegularizerSpec
from recplug.schedules import ConstantWeight
from recplug_recsys.config import load_config
from recplug_recsys.model import TwoTowerModel
from recplug_recsys.trainer import Trainer, TrainingDivergedError


class ItemTowerAgreement:
    """A regularizer with ``needs_model``: calls the item tower on the batch's item KJT (as SSL will)."""

    name = "tower-check"
    requires = frozenset({"item_embeddings"})
    schedule = ConstantWeight(0.1)

    def __init__(self, model: TwoTowerModel) -> None:
        self.model = model
        self.calls = 0

    def __call__(self, batch, outputs):
        self.calls += 1
        again = self.model.item_tower(batch["item_features"])
        return {"gap": (again - outputs["item_embeddings"]).pow(2).sum(1).mean()}


class NanAfter:
    name = "nan-after"
    requires = frozenset()
    schedule = ConstantWeight(1.0)

    def __init__(self, step: int) -> None:
        self.step, self.seen = step, 0

    def __call__(self, batch, outputs):
        self.seen += 1
        return {"x": torch.tensor(math.nan if self.seen > self.step else 0.0)}


class CountingTables(DenseTables):
    name = "counting"
    calls: list[int] = []  # noqa: RUF012

    def after_optimizer_step(self, module, step):
        CountingTables.calls.append(step)
        return {"calls": float(len(CountingTables.calls))}


class AttachingTables(DenseTables):
    name = "attaching"
    attached: list = []  # noqa: RUF012

    def attach_optimizer(self, optimizer):
        AttachingTables.attached.append(optimizer)


class FakePlugin:
    @hookimpl
    def recplug_regularizers(self):
        return [
            RegularizerSpec("tower-check", ItemTowerAgreement, "test", needs_model=True),
            RegularizerSpec("nan-after", NanAfter, "test"),
            RegularizerSpec("needs-terms", lambda: type("R", (), {"name": "needs-terms", "schedule": ConstantWeight(1),
                                                                 "requires": frozenset({"doc_term_weights"})})(), ""),
        ]

    @hookimpl
    def recplug_embedding_compressors(self):
        caps = CompressorCapabilities(after_step=True, export=True, fused=True, sharded=True)
        return [EmbeddingCompressorSpec("counting", CountingTables, "test", caps),
                EmbeddingCompressorSpec("attaching", AttachingTables, "test")]


@pytest.fixture(scope="module")
def pm():
    manager = load_plugin_manager()
    manager.register_plugin(FakePlugin(), "recsys-test-fakes", "recplug-recsys-tests", "0")
    return manager


def test_resume_is_exact(small_config, tmp_path: Path, pm) -> None:
    full = Trainer(small_config("epochs=2", f'output_dir="{tmp_path / "a"}"'), pm).fit()
    first = Trainer(small_config("epochs=1", f'output_dir="{tmp_path / "b"}"'), pm)
    first.fit()
    resumed = Trainer(small_config("epochs=2", f'output_dir="{tmp_path / "b"}"'), pm)
    result = resumed.fit()
    assert resumed.step == 8 and len(resumed.history) == 2
    assert result["test"] == pytest.approx(full["test"], abs=1e-6)
    assert result["test"]["R@10"] > 0  # it did rank something
    history = json.loads((tmp_path / "b" / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[1]["valid/nDCG@10"] == pytest.approx(full["valid"]["nDCG@10"] if full["best_epoch"] == 2
                                                       else history[1]["valid/nDCG@10"])
    csv_lines = (tmp_path / "b" / "history.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,step,") and len(csv_lines) == 3
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert {"R@20", "nDCG@10", "RR@10", "head/R@10", "tail/nDCG@20"} <= set(metrics["test"])
    # a changed setting cannot resume the same folder
    with pytest.raises(IncompatibleFileError, match="lr"):
        Trainer(small_config("epochs=3", "lr=0.5", f'output_dir="{tmp_path / "b"}"'), pm).fit()


def test_patience_stops_after_epochs_without_a_new_best(small_config, pm, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation RR@10 peaks at epoch 2; with patience 3 epochs 3-5 do not beat it, so epoch 6 never runs."""
    import recplug_recsys.trainer as trainer_module

    real_evaluate = trainer_module.evaluate
    scripted = iter([0.1, 0.3, 0.2, 0.25, 0.3, 0.5])

    def evaluate(model, data, which, *args, **kwargs):
        metrics = real_evaluate(model, data, which, *args, **kwargs)
        return {**metrics, "RR@10": next(scripted)} if which == "valid" else metrics

    monkeypatch.setattr(trainer_module, "evaluate", evaluate)
    trainer = Trainer(small_config("epochs=6", "patience=3"), pm)
    result = trainer.fit()
    assert [row["epoch"] for row in trainer.history] == [1, 2, 3, 4, 5]
    assert (result["best_epoch"], result["epochs_run"], result["stopped_early"]) == (2, 5, True)
    assert result["valid"]["RR@10"] == 0.3
    # a finished run resumed from its checkpoint does not train again: its patience has already run out
    again = Trainer(small_config("epochs=6", "patience=3", "resume=true"), pm)
    assert again.fit()["epochs_run"] == 5


def test_without_patience_every_epoch_runs(small_config, pm) -> None:
    result = Trainer(small_config("epochs=2"), pm).fit()
    assert (result["epochs_run"], result["stopped_early"]) == (2, False)


def test_checkpoint_is_weights_only(small_config, tmp_path: Path, pm) -> None:
    trainer = Trainer(small_config("epochs=1"), pm)
    bad = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": ItemTowerAgreement}, bad)  # a class: needs unpickling of code
    with pytest.raises(CorruptFileError, match=r"evil\.pt"):
        trainer.load_checkpoint(bad)


def test_a_best_model_saved_with_an_old_metric_name_still_loads(small_config, pm) -> None:
    """``best.pt`` of a run trained before the ir-measures names holds ``select_metric = "mrr@10"``."""
    from recplug_recsys.trainer import evaluate_run

    config = small_config("epochs=1")
    result = Trainer(config, pm).fit()
    path = Path(config.output_dir) / "best.pt"
    state = torch.load(path, weights_only=True)
    state["config"] = json.dumps({**json.loads(state["config"]), "select_metric": "mrr@10"})
    torch.save(state, path)
    assert evaluate_run(config.output_dir, pm=pm) == pytest.approx(result["test"])


def test_regularizers_and_compressor_hooks(small_config, pm) -> None:
    CountingTables.calls.clear()
    config = small_config(
        "epochs=1", 'compressor={"name": "counting"}',
        'regularizers=[{"name": "embedding-norm", "options": {"keys": ["query_embeddings"], "weight": 0.01}},'
        ' {"name": "tower-check"}]',
    )
    trainer = Trainer(config, pm)
    assert trainer.regularizers[1].model is trainer.model
    trainer.fit()
    row = trainer.history[0]
    assert row["embedding-norm/query_embeddings"] == pytest.approx(1.0, abs=1e-4)  # outputs are unit vectors
    assert row["tower-check/gap"] == pytest.approx(0.0, abs=1e-10) and row["tower-check/weight"] == 0.1
    assert trainer.regularizers[1].calls == 4
    assert CountingTables.calls == [0, 0, 1, 1, 2, 2, 3, 3]  # user and item tables after each of 4 steps
    assert row["counting/calls"] > 0


def test_compressor_gets_the_table_optimizer(small_config, pm) -> None:
    AttachingTables.attached.clear()
    trainer = Trainer(small_config('compressor={"name": "attaching"}', "table_optimizer=adagrad"), pm)
    assert AttachingTables.attached == [trainer.optimizers[0]]
    table_params = {id(p) for p in [*trainer.model.user_ebc.parameters(), *trainer.model.item_ebc.parameters()]}
    assert {id(p) for g in AttachingTables.attached[0].param_groups for p in g["params"]} == table_params


def test_nan_loss_stops_and_keeps_last_good_checkpoint(small_config, pm) -> None:
    config = small_config("epochs=3", 'regularizers=[{"name": "nan-after", "options": {"step": 6}}]')
    trainer = Trainer(config, pm)
    with pytest.raises(TrainingDivergedError, match=r"not finite at epoch 2, step 6 .*checkpoint.pt \(epoch 1\) is kept"):
        trainer.fit()
    state = torch.load(trainer.checkpoint_path, weights_only=True)
    assert state["epoch"] == 1 and state["step"] == 4


def test_bad_components_and_configs(small_config, pm, tmp_path: Path) -> None:
    with pytest.raises(UnknownComponentError, match=r"unknown embedding compressor 'dens'\. Did you mean 'dense'"):
        Trainer(small_config('compressor={"name": "dens"}'), pm)
    with pytest.raises(UnknownComponentError, match="no-such-regularizer"):
        Trainer(small_config('regularizers=[{"name": "no-such-regularizer"}]'), pm)
    with pytest.raises(ConfigError, match=r"needs outputs \['doc_term_weights'\]"):
        Trainer(small_config("epochs=1", 'regularizers=[{"name": "needs-terms"}]'), pm).fit()
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['embeding_dim'\]"):
        small_config("model.embeding_dim=3")
    with pytest.raises(ConfigError, match=r"config\.batch_size: expected int"):
        small_config('batch_size="big"')
    with pytest.raises(ConfigError, match="sharding must be one of"):
        small_config("sharding=diagonal")
    for fraction in ("0", "1.5"):
        with pytest.raises(ConfigError, match=r"data\.train_fraction must be in \(0, 1\]"):
            small_config(f"data.train_fraction={fraction}")
    toml = tmp_path / "train.toml"
    toml.write_text('epochs = 7\n[model]\nembedding_dim = 24\n[[regularizers]]\nname = "embedding-norm"\n'
                    'options = { weight = 1e-4 }\n')
    config = load_config(toml, ["model.hidden=[8, 8]"])
    assert config.epochs == 7 and config.model.embedding_dim == 24 and config.model.hidden == (8, 8)
    assert config.regularizers[0].options == {"weight": 1e-4}
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_train_fraction_subsamples_training_only(small_config, pm) -> None:
    from recplug_recsys.trainer import load_run_data

    full = load_run_data(small_config(), pm)
    half = load_run_data(small_config("data.train_fraction=0.5"), pm)
    again = load_run_data(small_config("data.train_fraction=0.5"), pm)
    assert half.train.height == round(0.5 * full.train.height)
    assert half.train.equals(again.train)  # a fixed draw: every model sees the same interactions
    kept = set(zip(half.train["user_id"], half.train["item_id"], strict=True))
    assert kept <= set(zip(full.train["user_id"], full.train["item_id"], strict=True))
    assert half.valid.equals(full.valid) and half.test.equals(full.test)
    other = load_run_data(small_config("data.train_fraction=0.5", "data.train_fraction_seed=1"), pm)
    assert not other.train.equals(half.train)


def test_evaluation_through_a_faiss_index(small_config, pm) -> None:
    from recplug_recsys.trainer import evaluate

    trainer = Trainer(small_config("epochs=1", 'eval_index={"name": "faiss-flat"}'), pm)
    assert trainer.index_factory is not None
    with_index = evaluate(trainer.model, trainer.data, "test", (10, 20), trainer.index_factory)
    exact = evaluate(trainer.model, trainer.data, "test", (10, 20))
    assert with_index == pytest.approx(exact, abs=1e-6)
    assert exact["num_users"] == 60
    with pytest.raises(UnknownComponentError, match="faiss-flt"):
        Trainer(small_config('eval_index={"name": "faiss-flt"}'), pm)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("epochs=1.5", r"config\.epochs: expected int, got 1\.5"),
        ("lr=true", r"config\.lr: expected float, got True"),
        ("lr=-1", r"lr must be a number > 0, got -1"),
        ("lr=0", r"lr must be a number > 0, got 0"),
        ("table_lr=0", r"table_lr must be a number > 0"),
        ("weight_decay=-0.1", r"weight_decay must be a number >= 0, got -0.1"),
        ("epochs=0", r"epochs must be an integer >= 1, got 0"),
        ("patience=0", r"patience must be an integer >= 1, got 0"),
        ("batch_size=1", r"batch_size must be an integer >= 2, got 1"),
        ("seed=-1", r"seed must be an integer >= 0"),
        ("max_steps_per_epoch=0", r"max_steps_per_epoch must be an integer >= 1"),
        ("eval_users=0", r"eval_users must be an integer >= 1"),
        ("model.temperature=0", r"model\.temperature must be a number > 0, got 0"),
        ("model.temperature=NaN", r"model\.temperature must be a number > 0, got nan"),
        ("model.embedding_dim=0", r"model\.embedding_dim must be an integer >= 1, got 0"),
        ("model.output_dim=-4", r"model\.output_dim must be an integer >= 1"),
        ("model.hidden=[16, 0]", r"model\.hidden widths must be an integer >= 1, got 0"),
        ("data.max_users=0", r"data\.max_users must be an integer >= 1"),
        ("data.split_seed=-2", r"data\.split_seed must be an integer >= 0"),
    ],
)
def test_numeric_settings_are_checked_when_read(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [setting])


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)  # a folder
    (tmp_path / "bad.toml").write_bytes(b"epochs = 3\n# \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a table"):
        load_config(tmp_path / "list.json")
