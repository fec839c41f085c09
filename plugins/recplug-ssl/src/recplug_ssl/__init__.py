"""Self-supervised regularization for item recommendation (Yao et al. 2021) as recplug regularizers."""

__version__ = "0.1.0"
