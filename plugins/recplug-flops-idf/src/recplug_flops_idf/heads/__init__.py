"""Trained heads shipped with the plugin (package data), each checked against its SHA-256 on load.

``heads.json`` lists them: file name, SHA-256, size, what trained it and the one command that retrains it
(:func:`recplug_flops_idf.shipped.shipped_head`).
"""
