"""Hook implementations of recplug-eval (loaded through the entry point; imports nothing heavy).

Each hook delegates to the module that owns those components; those modules import faiss, torch or
sentence-transformers only inside factories.
"""

from __future__ import annotations

from recplug import hookimpl


@hookimpl
def recplug_datasets():
    from recplug_eval.datasets.beir import beir_dataset_specs
    from recplug_eval.datasets.interaction_files import interaction_files_specs
    from recplug_eval.datasets.movielens import movielens_dataset_specs

    return [*beir_dataset_specs(), *movielens_dataset_specs(), *interaction_files_specs()]


@hookimpl
def recplug_retrieval_indexes():
    from recplug_eval.indexes.faiss_index import faiss_index_specs

    return faiss_index_specs()


@hookimpl
def recplug_retrieval_encoders():
    from recplug_eval.encoders import encoder_specs

    return encoder_specs()


@hookimpl
def recplug_demo_steps():
    from recplug_eval.demo import baseline_steps

    return baseline_steps()


@hookimpl
def recplug_commands():
    from recplug_eval.cli import command_specs

    return command_specs()
