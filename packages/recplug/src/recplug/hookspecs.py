"""Hook specifications: the only contract between the recplug core and its plugins.

Every hook is a *discovery* hook: it takes no arguments (new keyword arguments may be added later;
pluggy passes an implementation only those it names) and returns a list of frozen records. The plugin
manager calls each hook once, when a pipeline is built, checks names and sorts the records by name;
training steps and search loops never go through pluggy.

A plugin module implements the hooks it needs with ``@recplug.hookimpl`` and is registered through an
entry point in the group ``recplug``::

    [project.entry-points.recplug]
    my-plugin = "my_package.plugin"

Each docstring below has the sections ``Arguments``, ``Returns``, ``Combine`` and ``Example``; the
examples are run by the core's tests.
"""

from __future__ import annotations

import pluggy

from recplug.records import (
    CommandSpec,
    DatasetSpec,
    DemoStep,
    EmbeddingCompressorSpec,
    RegularizerSpec,
    RetrievalEncoderSpec,
    RetrievalIndexSpec,
)

PROJECT = "recplug"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def recplug_regularizers() -> list[RegularizerSpec]:
    """Regularizers: loss terms added to the training loss.

    A regularizer is called as ``reg(batch, outputs) -> dict[str, Tensor]`` and returns named, unweighted
    scalar loss parts; its ``schedule(step)`` gives the weight (see :mod:`recplug.protocols`).

    Arguments:
        none.

    Returns:
        list[RegularizerSpec]: one record per regularizer this plugin provides.

    Combine:
        the lists of all plugins are concatenated; two records with the same name are an error that
        names both distributions; the result is sorted by name.

    Example:
        >>> from recplug import hookimpl, RegularizerSpec
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_regularizers(self):
        ...         return [RegularizerSpec("zero", factory=dict, description="adds nothing")]
        >>> [spec.name for spec in Plugin().recplug_regularizers()]
        ['zero']
    """


@hookspec
def recplug_embedding_compressors() -> list[EmbeddingCompressorSpec]:
    """Embedding compressors: what embedding tables are made of and how they change during training.

    A compressor builds the embedding tables of a model from :class:`recplug.protocols.TableSpec` s, may
    act after each optimizer step (masks, prune/grow) and exports a compact serving form.

    Arguments:
        none.

    Returns:
        list[EmbeddingCompressorSpec]: one record per compressor.

    Combine:
        concatenated over plugins; a duplicate name is an error naming both distributions; sorted by name.

    Example:
        >>> from recplug import hookimpl, CompressorCapabilities, EmbeddingCompressorSpec
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_embedding_compressors(self):
        ...         caps = CompressorCapabilities(export=True, fused=True)
        ...         return [EmbeddingCompressorSpec("dense-copy", factory=dict, capabilities=caps)]
        >>> spec = Plugin().recplug_embedding_compressors()[0]
        >>> (spec.capabilities.export, spec.capabilities.sharded, spec.tags())
        (True, False, ('export', 'fused'))
    """


@hookspec
def recplug_retrieval_encoders() -> list[RetrievalEncoderSpec]:
    """Retrieval encoders: turn queries and documents into vectors (dense, sparse, or encodings of sets).

    Arguments:
        none.

    Returns:
        list[RetrievalEncoderSpec]: one record per encoder.

    Combine:
        concatenated over plugins; a duplicate name is an error naming both distributions; sorted by name.

    Example:
        >>> from recplug import hookimpl, RetrievalEncoderSpec
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_retrieval_encoders(self):
        ...         return [RetrievalEncoderSpec("hash-bow", factory=dict, output="sparse", index="sparse-dot")]
        >>> spec = Plugin().recplug_retrieval_encoders()[0]
        >>> (spec.family, spec.output, spec.index)
        ('retrieval_encoder', 'sparse', 'sparse-dot')
    """


@hookspec
def recplug_retrieval_indexes() -> list[RetrievalIndexSpec]:
    """Retrieval indexes: store encoded documents, answer top-k queries, save and load themselves.

    Arguments:
        none.

    Returns:
        list[RetrievalIndexSpec]: one record per index type.

    Combine:
        concatenated over plugins; a duplicate name is an error naming both distributions; sorted by name.

    Example:
        >>> from recplug import hookimpl, IndexCapabilities, RetrievalIndexSpec
        >>> from recplug.builtins.exact_index import ExactIndex
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_retrieval_indexes(self):
        ...         caps = IndexCapabilities(exact=True, supports_removal=True)
        ...         return [RetrievalIndexSpec("my-exact", factory=ExactIndex, capabilities=caps)]
        >>> spec = Plugin().recplug_retrieval_indexes()[0]
        >>> spec.tags()
        ('dense', 'exact', 'removal', 'save')
        >>> index = spec.create(dimension=2)
        >>> (index.dimension, index.capabilities.input == spec.capabilities.input)
        (2, True)
    """


@hookspec
def recplug_datasets() -> list[DatasetSpec]:
    """Datasets: named loaders that yield polars frames.

    A retrieval dataset (record ``kind="retrieval"``) gives ``corpus``, ``queries`` and ``qrels(split)``; an
    interaction dataset (``kind="interactions"``) gives interactions plus user and item features (see
    :class:`recplug.protocols.RetrievalDataset` and :class:`recplug.protocols.InteractionDataset`).

    Arguments:
        none.

    Returns:
        list[DatasetSpec]: one record per dataset.

    Combine:
        concatenated over plugins; a duplicate name is an error naming both distributions; sorted by name.

    Example:
        >>> from recplug import hookimpl, DatasetSpec
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_datasets(self):
        ...         return [DatasetSpec("tiny", factory=dict, description="an empty dataset", kind="interactions")]
        >>> spec = Plugin().recplug_datasets()[0]
        >>> (spec.description, spec.kind)
        ('an empty dataset', 'interactions')
    """


@hookspec
def recplug_commands() -> list[CommandSpec]:
    """Sub-commands of the ``recplug`` command line (``eval``, ``train``, ``demo`` ...).

    Arguments:
        none.

    Returns:
        list[CommandSpec]: one record per sub-command; ``configure`` adds argparse arguments and ``run``
        executes it. Neither may import heavy libraries before ``run`` is called.

    Combine:
        concatenated over plugins; a duplicate command name is an error naming both distributions;
        sorted by name.

    Example:
        >>> from recplug import hookimpl, CommandSpec
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_commands(self):
        ...         return [CommandSpec("hello", "say hello", configure=lambda p: None, run=lambda args, pm: 0)]
        >>> Plugin().recplug_commands()[0].run(None, None)
        0
    """


@hookspec
def recplug_demo_steps() -> list[DemoStep]:
    """Steps of ``recplug demo``: retrieval systems for its shared SciFact table and/or a custom section.

    Arguments:
        none.

    Returns:
        list[DemoStep]: one record per step; ``systems()`` and ``run(context)`` import what they need when
        called (the hook runs when plugins load).

    Combine:
        concatenated over plugins; a duplicate step name is an error naming both distributions; the demo
        runs them by ``(order, name)``. Blocked or not-loaded plugins contribute no steps.

    Example:
        >>> from recplug import hookimpl, DemoStep
        >>> class Plugin:
        ...     @hookimpl
        ...     def recplug_demo_steps(self):
        ...         return [DemoStep("hello", "Hello", run=lambda context: "hello", order=90)]
        >>> Plugin().recplug_demo_steps()[0].run(None)
        'hello'
    """
