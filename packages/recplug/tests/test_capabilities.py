"""One typed capability system: records carry typed capabilities, listings derive tags from them, and a plain
set of tags where typed flags are expected is a one-line TypeError naming the record."""

from __future__ import annotations

import doctest
import json

import pytest
from recplug import (
    CompressorCapabilities,
    DatasetSpec,
    EmbeddingCompressorSpec,
    IndexCapabilities,
    RegularizerSpec,
    RetrievalEncoderSpec,
    RetrievalIndexSpec,
    load_plugin_manager,
    protocols,
    records,
)
from recplug.errors import ConfigError, InvalidInputError
from recplug.protocols import InteractionDataset, RetrievalDataset, check_protocol, protocol_members


def test_records_default_to_typed_capabilities() -> None:
    assert RetrievalIndexSpec("i", dict).capabilities == IndexCapabilities()
    assert EmbeddingCompressorSpec("c", dict).capabilities == CompressorCapabilities()
    assert RegularizerSpec("r", dict).capabilities is None
    assert DatasetSpec("d", dict).kind == "retrieval"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: RetrievalIndexSpec("my-index", dict, capabilities={"exact", "save"}), ["'my-index'", "IndexCapabilities"]),
        (lambda: EmbeddingCompressorSpec("my-tables", dict, "", frozenset({"export"})), ["'my-tables'", "CompressorCapabilities"]),
        (lambda: RegularizerSpec("my-reg", dict, capabilities={"sparse"}), ["'my-reg'", "needs_model"]),
        (lambda: RetrievalEncoderSpec("my-enc", dict, capabilities={"x"}), ["'my-enc'", "output"]),
        (lambda: DatasetSpec("my-data", dict, "", frozenset({"interactions"})), ["'my-data'", "kind"]),
        (lambda: DatasetSpec("my-data", dict, kind="clicks"), ["'my-data'", "kind"]),
        (lambda: RetrievalIndexSpec("my-index", dict, capabilities=CompressorCapabilities()), ["'my-index'"]),
    ],
)
def test_tags_where_typed_flags_belong_are_a_one_line_type_error(make, words) -> None:
    with pytest.raises(TypeError) as info:
        make()
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_capability_flags_are_typed() -> None:
    with pytest.raises(TypeError, match="export must be a bool"):
        CompressorCapabilities(export="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="input must be"):
        IndexCapabilities(input="dens")  # type: ignore[arg-type]


def test_tags_come_from_typed_fields() -> None:
    caps = IndexCapabilities(exact=True, supports_removal=True, input="sparse")
    assert RetrievalIndexSpec("i", dict, capabilities=caps).tags() == ("sparse", "exact", "removal", "save")
    assert EmbeddingCompressorSpec("c", dict, capabilities=CompressorCapabilities(after_step=True, sharded=True)).tags() == (
        "after_step",
        "sharded",
    )
    assert RegularizerSpec("r", dict, needs_model=True).tags() == ("needs_model",)
    assert RetrievalEncoderSpec("e", dict, output="sparse", inference_free_queries=True).tags() == (
        "sparse",
        "inference_free_queries",
    )
    assert DatasetSpec("d", dict, kind="interactions", downloads=True).tags() == ("interactions", "download")


def test_the_listing_shows_the_tags_of_the_records(capsys) -> None:
    from recplug.cli.main import main

    assert main(["plugins", "--json"]) == 0
    builtins = {info["name"]: info for info in json.loads(capsys.readouterr().out)}["recplug.builtins"]
    assert builtins["tags"]["retrieval_index"]["exact"] == ["dense", "exact", "removal", "save"]
    assert builtins["tags"]["embedding_compressor"]["dense"] == ["export", "fused", "sharded"]
    assert main(["plugins"]) == 0
    assert "exact [dense, exact, removal, save]" in capsys.readouterr().out


def test_installed_records_and_their_components_agree() -> None:
    """Every installed index and compressor record declares typed capabilities."""
    pm = load_plugin_manager()
    for spec in pm.components_of("retrieval_index").values():
        assert isinstance(spec.capabilities, IndexCapabilities), spec.name
    for spec in pm.components_of("embedding_compressor").values():
        assert isinstance(spec.capabilities, CompressorCapabilities), spec.name
    for spec in pm.components_of("dataset").values():
        assert spec.kind in records.DATASET_KINDS


def test_check_protocol_names_what_is_missing() -> None:
    class HalfDataset:
        name, splits = "half", ("test",)

        def corpus(self): ...

    with pytest.raises(ConfigError, match=r"^dataset 'half' \(HalfDataset\) does not keep the RetrievalDataset protocol: it lacks "
                                          r"load_notes, path, qrels, queries$"):
        check_protocol(HalfDataset(), RetrievalDataset, "dataset 'half'")
    with pytest.raises(InvalidInputError):
        check_protocol(HalfDataset(), RetrievalDataset, "dataset 'half'", InvalidInputError)
    assert "default_config" in protocol_members(InteractionDataset)
    assert "report" in protocol_members(InteractionDataset)


def test_an_explicit_subclass_of_the_dataset_protocol_inherits_default_config() -> None:
    class Clicks(InteractionDataset):
        name, report = "clicks", {}

        def interactions(self): ...

        def users(self): ...

        def items(self): ...

        def split(self, kind, seed, **options): ...

    assert Clicks().default_config() == {}
    assert check_protocol(Clicks(), InteractionDataset, "dataset 'clicks'") is not None


def test_protocol_examples_run() -> None:
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(protocols) if t.examples]
    assert tests
    for test in tests:
        assert runner.run(test).failed == 0, test.name
