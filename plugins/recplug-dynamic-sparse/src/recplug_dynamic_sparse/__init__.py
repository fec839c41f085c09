"""Dynamic sparse embedding tables (Wang et al. WSDM 2024) and compression baselines for recplug."""

__version__ = "0.1.0"
