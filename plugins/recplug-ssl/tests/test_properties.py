"""Property tests of the SSL and spread-out regularizers: any option value and any embedding tensor either give
a correct result or a RecplugError, never another exception or a hang (issue 30)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st
from recplug import load_plugin_manager
from recplug.errors import InvalidInputError, RecplugError
from recplug.testing.strategies import ci_settings, garbage, outcome

FEATURES = ("item_id", "genres", "year", "title_tokens")  # those of conftest's item catalogue
SCHEDULE = {
    "weight": st.floats(0, 2),
    "warmup": st.sampled_from(["constant", "linear", "quadratic", "cubic"]),
    "warmup_steps": st.integers(-1, 20),
}
SPREAD_OUT = {
    **SCHEDULE,
    "form": st.sampled_from(["softmax", "gor", "other"]),
    "temperature": st.floats(-0.5, 5),
    "key": st.sampled_from(["item_embeddings", ""]),
}
SSL = {
    **SCHEDULE,
    "masking": st.sampled_from(["random", "correlated", "none", "all"]),
    "features": st.one_of(st.none(), st.lists(st.sampled_from([*FEATURES, "nope"]), max_size=4, unique=True)),
    "num_masked": st.one_of(st.none(), st.integers(0, 4)),
    "defaults": st.one_of(st.none(), st.dictionaries(st.sampled_from(FEATURES), st.one_of(st.just("empty"), st.integers(-1, 3)), max_size=2)),
    "value_dropout": st.floats(-0.1, 1.0),
    "dropout_features": st.one_of(st.none(), st.lists(st.sampled_from([*FEATURES, "nope"]), max_size=2, unique=True)),
    "temperature": st.floats(-0.5, 5),
    "batch_size": st.one_of(st.integers(0, 12), st.sampled_from([10**6, 10**9, 2**40])),
    "sampler": st.sampled_from(["corpus", "click_log", "popular"]),
    "train_item_ids": st.one_of(st.none(), st.lists(st.integers(-1, 45), max_size=30)),
}


@st.composite
def options(draw, plausible: dict[str, st.SearchStrategy], size: int = 4) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(plausible)), unique=True, max_size=size))
    # mostly plausible values (some of them out of range), sometimes anything at all
    return {key: draw(st.one_of(plausible[key], plausible[key], plausible[key], garbage())) for key in chosen}


@pytest.fixture(scope="module")
def pm():
    return load_plugin_manager()


_MODELS: dict[str, Any] = {}


@pytest.fixture
def fixed_model(fake_model_of, table_factory):
    """conftest's fake two-tower model, built once for the module (hypothesis runs many examples per test)."""
    if "model" not in _MODELS:
        torch.manual_seed(0)
        _MODELS["model"] = fake_model_of(table_factory())
    return _MODELS["model"]


def finite_scalars(parts: dict[str, torch.Tensor]) -> None:
    assert parts and all(isinstance(v, torch.Tensor) and v.dim() == 0 and torch.isfinite(v) for v in parts.values()), parts


@ci_settings(max_examples=150)
@given(opts=options(SPREAD_OUT))
def test_spread_out_takes_any_options(pm, opts: dict[str, Any]) -> None:
    made = outcome(lambda: pm.create("regularizer", "spread-out", **opts))
    event("built" if made.ok else "refused")
    if not made.ok:
        return
    reg = made.value
    assert all(math.isfinite(reg.schedule(s)) and reg.schedule(s) >= 0 for s in (0, 5, 10**6))
    embeddings = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    parts = reg({}, {reg.config.key: embeddings})
    finite_scalars(parts)
    torch.stack(list(parts.values())).sum().backward()
    assert torch.isfinite(embeddings.grad).all()


DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]


@st.composite
def embeddings(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    values = torch.randn(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 999))), dtype=torch.float64)
    flat = values.view(-1)
    if flat.numel() and draw(st.booleans()):
        flat[draw(st.integers(0, flat.numel() - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf, 1e30, 0.0]))
    if not dtype.is_floating_point:
        values = torch.nan_to_num(values, nan=0.0, posinf=3.0, neginf=-3.0).clamp(-3, 3)
    return values.to(dtype)


@pytest.mark.parametrize("form", ["softmax", "gor"])
@ci_settings(max_examples=100)
@given(value=st.one_of(embeddings(), garbage()))
def test_spread_out_on_any_embeddings(pm, form: str, value: Any) -> None:
    reg = pm.create("regularizer", "spread-out", form=form, temperature=0.5)
    result = outcome(lambda: reg({}, {"item_embeddings": value}))
    good = (
        isinstance(value, torch.Tensor) and value.dtype.is_floating_point and value.dim() == 2
        and value.shape[0] >= 2 and value.shape[1] >= 1
    )
    if not result.ok:
        assert isinstance(result.error, InvalidInputError)
        assert not good, f"refused a {tuple(value.shape)} {value.dtype} batch: {result.error}"
        return
    assert good
    (part,) = result.value.values()
    assert part.dim() == 0
    if torch.isfinite(value.float()).all() and value.abs().max() < 1e4:
        assert torch.isfinite(part)
        unit = torch.nn.functional.normalize(value.double(), dim=-1)
        sims = unit @ unit.T
        if form == "softmax":
            expected = torch.logsumexp(sims / 0.5, dim=1).mean() - 2.0
        else:
            off = sims[~torch.eye(len(sims), dtype=torch.bool)]
            expected = off.mean() ** 2 + torch.clamp(off.pow(2).mean() - 1.0 / value.shape[1], min=0)
        torch.testing.assert_close(part.double(), expected, rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("name", ["ssl", "ssl-cfm", "ssl-rfm"])
@ci_settings(max_examples=40, suppress_health_check=list(HealthCheck))
@given(opts=options(SSL, size=5))
def test_ssl_takes_any_options(pm, fixed_model: Any, name: str, opts: dict[str, Any]) -> None:
    if name != "ssl":
        opts.pop("masking", None)  # fixed by the variant
    made = outcome(lambda: pm.create("regularizer", name, model=fixed_model, **opts), seconds=30)
    event("built" if made.ok else f"refused: {type(made.error).__name__}")
    if not made.ok:
        return
    reg = made.value
    assert reg.name == name and reg.config.batch_size >= 2
    torch.manual_seed(0)
    ids = torch.tensor([0, 3, 5, 7])
    batch = {"item_ids": ids, "item_features": fixed_model.feature_space.kjt(ids)}
    parts = outcome(lambda: reg(batch, fixed_model(batch)))
    if not parts.ok:
        # a valid config whose views cannot be built (e.g. a default row id beyond a table) is a clean error
        assert isinstance(parts.error, RecplugError)
        return
    finite_scalars(parts.value)
    assert 0 <= float(parts.value["infonce"]) <= math.log(reg.config.batch_size) + 2 / reg.config.temperature + 1e-3


def test_ssl_refuses_a_batch_too_large_for_memory(pm, fixed_model: Any) -> None:
    from recplug.memory import ResourceError

    with pytest.raises(ResourceError, match="B x B"):
        pm.create("regularizer", "ssl-rfm", model=fixed_model, batch_size=2**40)
