"""The plugin manager against fake installed distributions: good, broken, clashing, wrong records."""

from __future__ import annotations

import logging

import pytest
from recplug import (
    DuplicateComponentError,
    PluginLoadError,
    RecplugPluginManager,
    UnknownComponentError,
    load_plugin_manager,
)
from recplug.testing.fake_plugins import recplug_entry_points as fake_entry_points


def manager(site, *names, **kwargs) -> RecplugPluginManager:
    return load_plugin_manager(entry_points=fake_entry_points(site, *names), **kwargs)


def test_good_plugin_components_and_distribution(fake_site):
    pm = manager(fake_site, "fake-good")
    assert pm.get("regularizer", "fake-reg").description == "a fake regularizer"
    assert "fake-index" in pm.components_of("retrieval_index")
    info = {i.name: i for i in pm.plugin_infos()}["fake-good"]
    assert (info.distribution, info.version) == ("fake-good", "1.0")
    assert info.components["regularizer"] == ["fake-reg"]


def test_builtins_register_through_the_same_hooks(fake_site):
    pm = manager(fake_site)
    infos = {i.name: i for i in pm.plugin_infos()}
    assert infos["recplug.builtins"].distribution == "recplug"
    assert "exact" in infos["recplug.builtins"].components["retrieval_index"]
    assert list(pm.components_of("retrieval_index")) == sorted(pm.components_of("retrieval_index"))


def test_broken_plugin_is_logged_by_name_and_skipped(fake_site, caplog):
    with caplog.at_level(logging.WARNING):
        pm = manager(fake_site, "fake-good", "fake-broken")
    assert "fake-broken" in caplog.text and "not installed" in caplog.text
    assert pm.get("regularizer", "fake-reg")
    failed = [i for i in pm.plugin_infos() if i.error]
    assert [i.name for i in failed] == ["fake-broken"]


def test_broken_plugin_asked_for_by_name_is_an_error(fake_site):
    with pytest.raises(PluginLoadError, match="fake-broken"):
        manager(fake_site, "fake-good", "fake-broken", require=["fake-broken"])


def test_unknown_name_after_a_broken_plugin_mentions_it(fake_site):
    pm = manager(fake_site, "fake-broken")
    with pytest.raises(UnknownComponentError, match="fake-broken"):
        pm.get("regularizer", "whatever")


def test_plugin_returning_wrong_records_is_treated_as_broken(fake_site):
    pm = manager(fake_site, "fake-wrong-type")
    assert [i.name for i in pm.plugin_infos() if i.error] == ["fake-wrong-type"]
    with pytest.raises(PluginLoadError, match="RegularizerSpec"):
        manager(fake_site, "fake-wrong-type", require=["fake-wrong-type"])


def test_name_clash_names_both_distributions(fake_site):
    with pytest.raises(DuplicateComponentError) as excinfo:
        manager(fake_site, "fake-clash-a", "fake-clash-b")
    message = str(excinfo.value)
    assert "same-name" in message and "fake-clash-a" in message and "fake-clash-b" in message


def test_autoload_off_by_environment(fake_site, monkeypatch):
    monkeypatch.setenv("RECPLUG_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = manager(fake_site, "fake-good")
    assert [name for name, _ in pm.list_name_plugin()] == ["recplug.builtins"]
    monkeypatch.setenv("RECPLUG_PLUGINS", "fake-good")
    pm = manager(fake_site, "fake-good")
    assert pm.has_plugin("fake-good")


def test_block_list_by_environment_and_argument(fake_site, monkeypatch):
    monkeypatch.setenv("RECPLUG_BLOCK_PLUGINS", "fake-clash-b")
    pm = manager(fake_site, "fake-clash-a", "fake-clash-b")
    assert pm.has_plugin("fake-clash-a") and not pm.has_plugin("fake-clash-b")
    pm = manager(fake_site, "fake-good", block=["fake-good"])
    with pytest.raises(UnknownComponentError):
        pm.get("regularizer", "fake-reg")


def test_required_and_blocked_is_an_error(fake_site):
    with pytest.raises(PluginLoadError, match="both required and blocked"):
        manager(fake_site, "fake-good", require=["fake-good"], block=["fake-good"])


def test_required_but_not_installed_is_an_error(fake_site):
    with pytest.raises(PluginLoadError, match="not installed"):
        manager(fake_site, "fake-good", require=["no-such-plugin"])


def test_unknown_component_lists_available_and_suggests(fake_site):
    pm = manager(fake_site, "fake-good")
    with pytest.raises(UnknownComponentError) as excinfo:
        pm.get("regularizer", "fake-rge")
    message = str(excinfo.value)
    assert "Did you mean 'fake-reg'" in message and "embedding-norm" in message


def test_unknown_family_is_an_error(fake_site):
    with pytest.raises(UnknownComponentError, match="component family"):
        manager(fake_site).components_of("optimizers")


def test_create_passes_config_to_the_factory(fake_site):
    pm = manager(fake_site)
    index = pm.create("retrieval_index", "exact", dimension=3, metric="cosine")
    assert (index.dimension, index.metric) == (3, "cosine")


def test_discovery_hooks_are_called_once_per_plugin(fake_site, monkeypatch):
    import fake_good  # noqa: F401 - imported by the fixture's site

    pm = manager(fake_site, "fake-good")
    calls = []
    original = pm._collect_from
    monkeypatch.setattr(pm, "_collect_from", lambda name: calls.append(name) or original(name))
    pm.components_of("regularizer")
    pm.components_of("regularizer")
    pm.get("retrieval_index", "fake-index")
    assert calls.count("fake-good") <= 1


def test_a_misspelled_hookimpl_makes_the_plugin_broken(fake_site, caplog):
    """Issue 31: ``check_pending`` so that a misspelled ``@hookimpl`` fails loudly instead of never running."""
    with caplog.at_level(logging.WARNING):
        pm = manager(fake_site, "fake-good", "fake-misspelled")
    assert "recplug_regularisers" in caplog.text
    assert [i.name for i in pm.plugin_infos() if i.error] == ["fake-misspelled"]
    with pytest.raises(PluginLoadError, match="recplug_regularisers"):
        manager(fake_site, "fake-misspelled", require=["fake-misspelled"])


def test_demo_steps_are_a_hook_like_every_other_component(fake_site, monkeypatch):
    """Issue 31: one mechanism; blocked plugins bring no steps."""
    pm = manager(fake_site, "fake-demo")
    assert pm.demo_steps()["fake-step"].run(None) == "fake section"
    assert pm.distribution_of_component("demo_step", "fake-step") == "fake-demo"
    assert "fake-step" not in manager(fake_site, "fake-demo", block=["fake-demo"]).demo_steps()


def test_hooks_are_called_through_pluggy(fake_site, monkeypatch):
    """Issue 31: the manager calls hooks through pluggy (so later hook arguments reach only the
    implementations that name them), never an implementation's function directly."""
    pm = manager(fake_site)
    calls = []
    original = pm.subset_hook_caller
    monkeypatch.setattr(pm, "subset_hook_caller", lambda name, remove_plugins: calls.append(name)
                        or original(name, remove_plugins))
    pm._records.clear()
    pm._components.clear()
    assert "exact" in pm.components_of("retrieval_index")
    assert "recplug_retrieval_indexes" in calls
