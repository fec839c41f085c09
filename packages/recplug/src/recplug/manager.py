"""The plugin manager: loads plugins from entry points and collects their components once.

Usage::

    from recplug import load_plugin_manager
    pm = load_plugin_manager()
    index = pm.create("retrieval_index", "exact", dimension=384)

Environment:
    ``RECPLUG_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the core's built-ins and the plugins named in
    ``RECPLUG_PLUGINS`` (comma-separated entry-point names); ``RECPLUG_BLOCK_PLUGINS`` (comma-separated)
    never loads the plugins named there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from recplug import hookspecs
from recplug.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
from recplug.records import FAMILIES, SPEC_TYPES, CommandSpec, ComponentSpec, DemoStep

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "recplug"
ENV_DISABLE_AUTOLOAD = "RECPLUG_DISABLE_PLUGIN_AUTOLOAD"
ENV_PLUGINS = "RECPLUG_PLUGINS"
ENV_BLOCK = "RECPLUG_BLOCK_PLUGINS"
BUILTIN_PLUGIN = "recplug.builtins"

_HOOK_OF = {family: f"recplug_{family}s" for family in (*FAMILIES, "command", "demo_step")}
_HOOK_OF["retrieval_index"] = "recplug_retrieval_indexes"
#: The record type each hook returns.
_RECORD_OF: dict[str, type] = {**SPEC_TYPES, "command": CommandSpec, "demo_step": DemoStep}


def _names_from_env(variable: str) -> set[str]:
    return {part.strip() for part in os.environ.get(variable, "").split(",") if part.strip()}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class PluginInfo:
    """One loaded (or failed) plugin, for listings.

    Attributes:
        components: family -> the names of the plugin's components, sorted.
        tags: family -> component name -> its record's tags (:meth:`recplug.records.ComponentSpec.tags`,
            derived from typed fields); families without tags (commands, demo steps) are absent.
    """

    name: str
    distribution: str
    version: str
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    tags: dict[str, dict[str, list[str]]] = field(default_factory=dict)


class RecplugPluginManager(pluggy.PluginManager):
    """A pluggy manager with recplug's hook specs, entry-point loading and component lookup."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self._distributions: dict[str, tuple[str, str]] = {}
        self._failed: dict[str, PluginInfo] = {}
        self._components: dict[str, dict[str, Any]] = {}
        self._records: dict[str, dict[str, list[Any]]] = {}
        self._owner: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ loading
    def register_plugin(self, plugin: object, name: str, distribution: str, version: str) -> None:
        """Register ``plugin`` (a module or object with hook implementations) under ``name``."""
        self.register(plugin, name=name)
        self._distributions[name] = (distribution, version)
        self._components.clear()

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        self._components.clear()
        self._records.clear()
        return super().unregister(plugin=plugin, name=name)

    def load_plugins(
        self,
        *,
        autoload: bool | None = None,
        require: Iterable[str] = (),
        block: Iterable[str] = (),
        entry_points: Iterable[metadata.EntryPoint] | None = None,
    ) -> RecplugPluginManager:
        """Register the built-ins, then the entry points of the group ``recplug``.

        Args:
            autoload: load every installed plugin; default: true unless ``RECPLUG_DISABLE_PLUGIN_AUTOLOAD``.
            require: plugin names the user asked for: a failure to load one is a :class:`PluginLoadError`
                instead of a logged warning, and they are loaded even with autoload off.
            block: plugin names never to load (added to ``RECPLUG_BLOCK_PLUGINS``).
            entry_points: the entry points to consider (default: the installed ones; tests pass fakes).
        """
        from recplug import builtins

        if not self.has_plugin(BUILTIN_PLUGIN):
            self.register_plugin(builtins, BUILTIN_PLUGIN, "recplug", _version("recplug"))
        if autoload is None:
            autoload = not _truthy(os.environ.get(ENV_DISABLE_AUTOLOAD))
        required = set(require) | _names_from_env(ENV_PLUGINS)
        blocked = set(block) | _names_from_env(ENV_BLOCK)
        if required & blocked:
            raise PluginLoadError(f"plugin(s) {sorted(required & blocked)} are both required and blocked")
        if entry_points is None:
            entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        seen: set[str] = set()
        for ep in sorted(entry_points, key=lambda e: e.name):
            seen.add(ep.name)
            if ep.name in blocked or self.has_plugin(ep.name) or (not autoload and ep.name not in required):
                if self.has_plugin(ep.name) and ep.name not in blocked:
                    self._check_same_distribution(ep)
                continue
            dist, version = _dist_of(ep)
            try:
                plugin = ep.load()
                self.register_plugin(plugin, ep.name, dist, version)
                self.check_pending()  # a misspelled @hookimpl (no such hook spec) makes the plugin broken
                self._collect_from(ep.name)  # a plugin returning malformed records is broken too
            except Exception as exc:
                if self.has_plugin(ep.name):
                    self.unregister(name=ep.name)
                    self._distributions.pop(ep.name, None)
                message = f"{type(exc).__name__}: {exc}"
                if ep.name in required:
                    raise PluginLoadError(
                        f"error loading plugin {ep.name!r} (distribution {dist} {version}): {message}"
                    ) from exc
                log.warning("skipping broken recplug plugin %r (%s %s): %s", ep.name, dist, version, message)
                self._failed[ep.name] = PluginInfo(ep.name, dist, version, error=message)
        missing = required - seen
        if missing:
            raise PluginLoadError(
                f"plugin(s) {sorted(missing)} requested but not installed; installed: {sorted(seen) or 'none'}"
            )
        self._components.clear()
        for family in _HOOK_OF:  # every family once, so clashes surface at load time
            self.components_of(family)
        return self

    def _check_same_distribution(self, ep: metadata.EntryPoint) -> None:
        dist, _ = _dist_of(ep)
        first, _ = self._distributions.get(ep.name, (dist, ""))
        if first != dist:
            raise DuplicateComponentError("plugin", ep.name, first, dist)

    # ------------------------------------------------------------------ collecting
    def _collect_from(self, plugin_name: str) -> dict[str, list[Any]]:
        """Call every discovery hook of one plugin through pluggy (once; cached) and type-check the records.

        The hooks are called as pluggy calls them (``subset_hook_caller``), so an implementation receives
        only the arguments it names and later hook arguments do not break it."""
        if plugin_name in self._records:
            return self._records[plugin_name]
        plugin = self.get_plugin(plugin_name)
        others = [other for _, other in self.list_name_plugin() if other is not plugin]
        found: dict[str, list[Any]] = {}
        for family, hook_name in _HOOK_OF.items():
            expected = _RECORD_OF[family]
            for records in self.subset_hook_caller(hook_name, remove_plugins=others)():
                if not isinstance(records, (list, tuple)) or not all(isinstance(r, expected) for r in records):
                    raise TypeError(f"{hook_name} of plugin {plugin_name!r} must return a list of {expected.__name__}")
                found.setdefault(family, []).extend(records)
        self._records[plugin_name] = found
        return found

    def components_of(self, family: str) -> dict[str, Any]:
        """All components of ``family`` by name, sorted; a name registered twice is an error."""
        if family not in _HOOK_OF:
            raise UnknownComponentError("component family", family, _HOOK_OF)
        if family not in self._components:
            merged: dict[str, Any] = {}
            for plugin_name, _ in self.list_name_plugin():
                for record in self._collect_from(plugin_name).get(family, []):
                    if record.name in merged:
                        first = self._owner[(family, record.name)]
                        raise DuplicateComponentError(
                            family, record.name, self.distribution_of(first), self.distribution_of(plugin_name)
                        )
                    merged[record.name] = record
                    self._owner[(family, record.name)] = plugin_name
            self._components[family] = dict(sorted(merged.items()))
        return self._components[family]

    def distribution_of(self, plugin_name: str) -> str:
        dist, version = self._distributions.get(plugin_name, (plugin_name, "?"))
        return f"{dist} {version} (plugin {plugin_name!r})"

    # ------------------------------------------------------------------ lookup
    def get(self, family: str, name: str) -> ComponentSpec:
        """The record of component ``name`` in ``family``; unknown names list what is available."""
        components = self.components_of(family)
        if name not in components:
            error = UnknownComponentError(family.replace("_", " "), name, components)
            if self._failed:
                broken = "; ".join(f"{info.name} ({info.error})" for info in self._failed.values())
                error.args = (f"{error.args[0]} Plugins that failed to load: {broken}",)
            raise error
        return components[name]

    def create(self, family: str, name: str, /, **config: Any) -> Any:
        """Build component ``name`` of ``family`` with ``config``."""
        return self.get(family, name).create(**config)

    def commands(self) -> dict[str, CommandSpec]:
        """The ``recplug`` sub-commands of every loaded plugin, by name."""
        return self.components_of("command")

    def demo_steps(self) -> dict[str, DemoStep]:
        """The ``recplug demo`` steps of every loaded plugin, by name."""
        return self.components_of("demo_step")

    def distribution_of_component(self, family: str, name: str) -> str:
        """The distribution name that registered component ``name`` of ``family``."""
        self.components_of(family)
        owner = self._owner[(family, name)]
        return self._distributions.get(owner, (owner, "?"))[0]

    # ------------------------------------------------------------------ listing
    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin with its distribution, version and component names, then failed ones."""
        infos = []
        for plugin_name, _ in sorted(self.list_name_plugin()):
            dist, version = self._distributions.get(plugin_name, (plugin_name, "?"))
            records_of = {family: records for family, records in sorted(self._collect_from(plugin_name).items()) if records}
            comps = {family: sorted(r.name for r in records) for family, records in records_of.items()}
            tags = {
                family: {r.name: list(r.tags()) for r in sorted(records, key=lambda r: r.name)}
                for family, records in records_of.items()
                if family in SPEC_TYPES
            }
            infos.append(PluginInfo(plugin_name, dist, version, comps, tags=tags))
        return infos + sorted(self._failed.values(), key=lambda i: i.name)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.value.split(":")[0].split(".")[0], "unknown"
    return dist.metadata["Name"], dist.version


def load_plugin_manager(**kwargs: Any) -> RecplugPluginManager:
    """A new manager with built-ins and installed plugins loaded (see :meth:`RecplugPluginManager.load_plugins`)."""
    return RecplugPluginManager().load_plugins(**kwargs)
