"""The bundled-model helpers: a missing model folder is a clear ConfigError, raised before any heavy import."""

from __future__ import annotations

import pytest
from recplug.errors import ConfigError
from recplug_eval.pretrained import load_sentence_transformer


def test_missing_model_folder_names_the_folder(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match=r"model folder .*no-such-model does not exist"):
        load_sentence_transformer(missing)
