"""Offline retrieval evaluation for recplug: datasets, FAISS indexes, metrics, runner, reports, baselines.

The public API, for users and for plugins (plugins import only these names)::

    from recplug_eval import EvalConfig, SystemConfig, run_evaluation      # evaluate retrieval systems
    from recplug_eval import evaluate_on_slice                             # a demo step on a SciFact slice
    from recplug_eval import FaissIndex, describe_faiss_index, train_faiss_index  # FAISS, shared checks
    from recplug_eval import load_sentence_transformer, minilm_dir         # the bundled all-MiniLM-L6-v2
    from recplug_eval import native_bf16, native_int8                      # fast reduced-precision GEMMs here?
    from recplug_eval import chamfer_scores                                # exact multi-vector (MaxSim) scores
    from recplug_eval import measure_name                                  # "MRR@10" -> "RR@10": metric keys
    from recplug_eval import progress_bar, is_terminal                     # tqdm on a terminal, plain lines in a log
    from recplug_eval import shared_token_embeddings, model_description    # one cached MiniLM forward pass
    from recplug_eval import use_bf16, precision_key                       # its precision (bfloat16 where native)

Names are imported on first use (``import recplug_eval`` imports neither torch nor faiss).
"""

from __future__ import annotations

from recplug.public_api import lazy_exports

__version__ = "0.1.0"

#: public name -> ``module:attribute`` it comes from
_EXPORTS = {
    "EvalConfig": "recplug_eval.runner:EvalConfig",
    "SystemConfig": "recplug_eval.runner:SystemConfig",
    "run_evaluation": "recplug_eval.runner:run_evaluation",
    "evaluate_on_slice": "recplug_eval.demo:evaluate_on_slice",
    "write_report": "recplug_eval.report:write_report",
    "measure_name": "recplug_eval.metrics:measure_name",
    "build_encoder_index_retriever": "recplug_eval.retrievers:build_encoder_index_retriever",
    "FaissIndex": "recplug_eval.indexes.faiss_index:FaissIndex",
    "MovieLensDataset": "recplug_eval.datasets.movielens:MovieLensDataset",
    "InteractionFiles": "recplug_eval.datasets.interaction_files:InteractionFiles",
    "BeirDataset": "recplug_eval.datasets.beir:BeirDataset",
    "cache_dir": "recplug_eval.paths:cache_dir",
    "shared_data_dir": "recplug_eval.paths:shared_data_dir",
    "import_faiss": "recplug_eval.indexes.faiss_support:import_faiss",
    "faiss_message": "recplug_eval.indexes.faiss_support:faiss_message",
    "innermost_faiss_index": "recplug_eval.indexes.faiss_support:innermost",
    "describe_faiss_index": "recplug_eval.indexes.faiss_support:describe",
    "check_faiss_search_parameters": "recplug_eval.indexes.faiss_support:check_search_parameters",
    "train_faiss_index": "recplug_eval.indexes.faiss_support:train_index",
    "MINILM_NAME": "recplug_eval.pretrained:MINILM_NAME",
    "minilm_dir": "recplug_eval.pretrained:minilm_dir",
    "huggingface_offline": "recplug_eval.pretrained:offline",
    "load_sentence_transformer": "recplug_eval.pretrained:load_sentence_transformer",
    "cpu_flags": "recplug_eval.cpu_features:cpu_flags",
    "cpu_model": "recplug_eval.cpu_features:cpu_model",
    "native_bf16": "recplug_eval.cpu_features:native_bf16",
    "native_int8": "recplug_eval.cpu_features:native_int8",
    "chamfer_scores": "recplug_eval.chamfer:chamfer_scores",
    "markdown_table": "recplug_eval.tables:markdown_table",
    "progress_bar": "recplug_eval.progress:progress",
    "is_terminal": "recplug_eval.progress:is_terminal",
    "make_output_dir": "recplug_eval.paths:make_output_dir",
    "positive_int": "recplug_eval.options:positive_int",
    "evaluate_run": "recplug_eval.metrics:evaluate_run",
    "document_texts": "recplug_eval.datasets.beir:document_texts",
    "write_beir": "recplug_eval.datasets.beir:write_beir",
    "subset_beir": "recplug_eval.datasets.beir:subset_beir",
    "default_scifact_path": "recplug_eval.datasets.beir:default_scifact_path",
    "EmbeddingCache": "recplug_eval.embedding_cache:EmbeddingCache",
    "cache_key": "recplug_eval.embedding_cache:cache_key",
    "SentenceTransformerEncoder": "recplug_eval.sentence_encoder:SentenceTransformerEncoder",
    "forward_token_embeddings": "recplug_eval.sentence_encoder:forward_token_embeddings",
    "model_description": "recplug_eval.sentence_encoder:model_description",
    "shared_token_embeddings": "recplug_eval.sentence_encoder:shared_token_embeddings",
    "normalised_tokens": "recplug_eval.sentence_encoder:normalised_tokens",
    "use_bf16": "recplug_eval.sentence_encoder:use_bf16",
    "precision_key": "recplug_eval.sentence_encoder:precision_key",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
