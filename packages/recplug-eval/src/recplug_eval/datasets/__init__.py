"""Dataset loaders registered by recplug-eval: BEIR-format folders and MovieLens."""
