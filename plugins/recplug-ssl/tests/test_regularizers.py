"""The registered regularizers: conformance kit, plugin registry, the SSL -> spread-out reduction, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from recplug import load_plugin_manager
from recplug.errors import ConfigError, InvalidInputError
from recplug.testing import RegularizerConformance
from recplug_ssl.item_features import ItemFeatureTable
from recplug_ssl.regularizers import SpreadOutRegularizer, SSLRegularizer


@pytest.fixture(scope="module")
def pm():
    return load_plugin_manager()


def _inputs(model):
    ids = torch.tensor([0, 3, 5, 7, 9, 11])
    batch = {"item_ids": ids, "item_features": model.feature_space.kjt(ids)}
    return batch, model(batch)


class TestSSLCFM(RegularizerConformance):
    @pytest.fixture
    def regularizer(self, pm, model):
        return pm.create("regularizer", "ssl-cfm", model=model, batch_size=8, weight=0.5)

    @pytest.fixture
    def regularizer_inputs(self, model):
        return _inputs(model)

    @pytest.fixture
    def gradient_tensors(self, model):
        return [p for p in model.parameters() if p.requires_grad]


class TestSSLRFMClickLog(TestSSLCFM):
    @pytest.fixture
    def regularizer(self, pm, model):
        log = [0] * 20 + list(range(40))
        return pm.create("regularizer", "ssl-rfm", model=model, batch_size=8, sampler="click_log", train_item_ids=log)


class TestSpreadOut(RegularizerConformance):
    @pytest.fixture(params=["softmax", "gor"])
    def regularizer(self, pm, request):
        return pm.create("regularizer", "spread-out", form=request.param, temperature=0.2)

    @pytest.fixture
    def regularizer_inputs(self):
        torch.manual_seed(0)
        return {}, {"item_embeddings": torch.randn(6, 4, requires_grad=True)}


def test_registry_records_and_capabilities(pm) -> None:
    for name in ("ssl", "ssl-cfm", "ssl-rfm"):
        assert pm.get("regularizer", name).needs_model and pm.get("regularizer", name).needs_item_features
    assert not pm.get("regularizer", "spread-out").needs_model
    reg = pm.create("regularizer", "spread-out")
    assert isinstance(reg, SpreadOutRegularizer) and reg.requires == {"item_embeddings"}


def test_plugin_import_is_light() -> None:
    code = "import sys, recplug_ssl.plugin; assert 'torch' not in sys.modules and 'polars' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cfm_groups_come_from_the_item_features(pm, model) -> None:
    reg = pm.create("regularizer", "ssl-cfm", model=model, batch_size=8)
    assert isinstance(reg, SSLRegularizer)
    mi = reg.splitter.mutual_info
    assert mi.features == ("item_id", "genres", "year", "title_tokens")
    # item_id identifies the item, so its MI with any feature is that feature's entropy
    for j in range(1, 4):
        assert mi.matrix[0, j] == pytest.approx(mi.matrix[j, j])
    assert reg.dropout_features == ("genres", "title_tokens")  # the multi-valued ones
    a, b = reg.splitter.split()
    assert len(a) == 2 and a | b == set(mi.features) and not a & b


def test_ssl_without_masking_is_spread_out_on_the_same_items(pm, model) -> None:
    """The reduction, exactly: with masking off, value dropout 0 and the one shared item tower, both views of
    the SSL batch are the same embeddings e = item_tower(features(ids)), so L_ssl = InfoNCE(e, e) equals the
    softmax spread-out term on e (same τ), in value and in gradient w.r.t. every model parameter."""
    ssl = pm.create("regularizer", "ssl", model=model, masking="none", value_dropout=0.0, temperature=0.2, batch_size=10)
    spread = pm.create("regularizer", "spread-out", form="softmax", temperature=0.2)
    torch.manual_seed(5)
    ids = ssl.sampler()
    torch.manual_seed(5)
    ssl_loss = ssl({}, {})["infonce"]
    e = model.item_tower(model.feature_space.kjt(ids))
    spread_loss = spread({}, {"item_embeddings": e})["spread_out"]
    assert float(ssl_loss.detach()) == pytest.approx(float(spread_loss.detach()), rel=1e-5)
    params = [p for p in model.parameters() if p.requires_grad]
    g_ssl = torch.autograd.grad(ssl_loss, params, allow_unused=True)
    g_so = torch.autograd.grad(spread_loss, params, allow_unused=True)
    for a, b in zip(g_ssl, g_so, strict=True):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # and with masking on, the two views differ, so the losses do too
    cfm = pm.create("regularizer", "ssl-cfm", model=model, value_dropout=0.0, temperature=0.2, batch_size=10)
    torch.manual_seed(5)
    assert float(cfm({}, {})["infonce"].detach()) != pytest.approx(float(spread_loss.detach()), rel=1e-3)


def test_ssl_training_lowers_the_ssl_loss(pm, model) -> None:
    reg = pm.create("regularizer", "ssl-cfm", model=model, batch_size=16, temperature=0.2)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    torch.manual_seed(0)
    losses = []
    for _ in range(40):
        loss = reg({}, {})["infonce"]
        opt.zero_grad()
        (reg.schedule(0) * loss).backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_bad_input(pm, model) -> None:
    with pytest.raises(ConfigError, match=r"\['director'\] the model lacks"):
        pm.create("regularizer", "ssl-rfm", model=model, features=["item_id", "director"])
    with pytest.raises(ConfigError, match=r"\['director'\] the model lacks"):
        pm.create("regularizer", "ssl-cfm", model=model, features=["item_id", "director"])
    with pytest.raises(ConfigError, match="k >= 2"):
        pm.create("regularizer", "ssl-cfm", model=model, features=["item_id"])
    for tau in (0.0, -0.1):
        with pytest.raises(ConfigError, match="temperature"):
            pm.create("regularizer", "ssl-cfm", model=model, temperature=tau)
        with pytest.raises(ConfigError, match="temperature"):
            pm.create("regularizer", "spread-out", temperature=tau)
    with pytest.raises(ConfigError, match="click_log"):
        pm.create("regularizer", "ssl-cfm", model=model, sampler="click_log")
    with pytest.raises(ConfigError, match="needs model"):
        pm.create("regularizer", "ssl-cfm")
    with pytest.raises(ConfigError, match="masking must be one of"):
        pm.create("regularizer", "ssl", model=model, masking="everything")
    with pytest.raises(ConfigError, match="form must be one of"):
        pm.create("regularizer", "spread-out", form="uniform")
    with pytest.raises(ConfigError, match="weight"):
        pm.create("regularizer", "spread-out", weight=-1.0)


def test_mutual_information_on_a_constant_or_empty_feature_is_an_input_error(pm, fake_model_of, table_factory) -> None:
    table = table_factory()
    cols = {k: [c.values[c.offsets[i]:c.offsets[i + 1]].tolist() for i in range(table.num_items)]
            for k, c in table.columns.items()}
    cols["year"] = [[1]] * table.num_items
    model = fake_model_of(ItemFeatureTable(cols))
    with pytest.raises(InvalidInputError, match="'year' is constant"):
        pm.create("regularizer", "ssl-cfm", model=model)
    with pytest.raises(InvalidInputError, match=r"train_item_ids must lie in \[0, 40\)"):
        pm.create("regularizer", "ssl-cfm", model=fake_model_of(table), train_item_ids=[0, 40])
    with pytest.raises(InvalidInputError, match="weights sum to 0"):
        pm.create("regularizer", "ssl-cfm", model=fake_model_of(table), train_item_ids=[])
