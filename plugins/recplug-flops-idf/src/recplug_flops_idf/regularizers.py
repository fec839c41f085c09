"""FLOPS (Paria et al. 2020) and IDF-aware FLOPS (Geng et al. 2024) regularizers.

Both penalise the same thing, ``sum_j (mean_b w_bj)^2`` over a batch of document vectors
``outputs["doc_term_weights"]`` (B x V'), with the quadratic warm-up ``lambda * ((step + 1) / T)^2``
(:class:`recplug.schedules.QuadraticWarmup`). They differ in the matching function they ask the trainer
to use (:meth:`FlopsRegularizer.term_weights`):

* ``flops``: queries are binary term sets; every term's ranking gradient has the same scale.
* ``flops-idf``: queries weight each term by its IDF, as at search time (the authors' trainer multiplies
  the binary query by ``relu(idf)``). The ranking gradient on a document's weight ``w_j`` is then scaled
  by ``idf_j`` while the penalty stays uniform, so low-IDF terms lose the tug of war and are pruned first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recplug.checks import check_int, check_real, check_str
from recplug.errors import InvalidInputError
from recplug.schedules import QuadraticWarmup

DOC_KEY = "doc_term_weights"


def as_idf(idf: Any, owner: str) -> Any:
    """``idf`` as a finite 1-D float32 tensor (V'); anything else is an :class:`InvalidInputError`."""
    import numpy as np
    import torch

    try:
        array = idf.detach().cpu().numpy() if isinstance(idf, torch.Tensor) else np.asarray(idf)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise TypeError(f"{array.dtype} values")
        with np.errstate(over="ignore"):  # beyond float32: infinity, refused below
            tensor = torch.as_tensor(array.astype(np.float32))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{owner}: idf must be a list of numbers ({exc})") from exc
    if tensor.dim() != 1:
        raise InvalidInputError(f"{owner}: idf must be one value per term (V'), got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise InvalidInputError(f"{owner}: idf contains NaN or infinity")
    if isinstance(idf, torch.Tensor):
        tensor = tensor.to(idf.device)
    return tensor


class FlopsRegularizer:
    """``{"flops": sum_j (mean_b |w_bj|)^2}`` of ``outputs[key]`` (B x V').

    Args:
        weight: ``lambda``, the weight reached after the warm-up.
        warmup_steps: ``T`` of the quadratic warm-up.
        key: output key holding the document term weights.
    """

    name = "flops"
    query_weighting = "binary"

    def __init__(self, weight: float = 1e-3, warmup_steps: int = 100, key: str = DOC_KEY) -> None:
        self.key = check_str(key, f"{self.name}: key")
        self.requires = frozenset({key})
        self.schedule = QuadraticWarmup(
            check_real(weight, f"{self.name}: weight", low=0), check_int(warmup_steps, f"{self.name}: warmup_steps", low=1)
        )

    def __call__(self, batch: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        if self.key not in outputs:
            raise InvalidInputError(f"{self.name}: outputs lack {self.key!r} (B x V document term weights)")
        w = outputs[self.key]
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or w.shape[0] == 0 or not w.dtype.is_floating_point:
            raise InvalidInputError(
                f"{self.name}: {self.key!r} must be a non-empty floating-point B x V tensor, got "
                f"{type(w).__name__} {tuple(getattr(w, 'shape', ()))} {getattr(w, 'dtype', '')}"
            )
        return {"flops": (w.abs().mean(dim=0) ** 2).sum()}

    def term_weights(self, idf: Any) -> Any:
        """Weights of the query terms in the training matching function: ``V'`` ones (binary queries)."""
        import torch

        return torch.ones_like(as_idf(idf, self.name))


class IdfAwareFlopsRegularizer(FlopsRegularizer):
    """FLOPS whose trainer matches with IDF-weighted queries (``term_weights(idf) = relu(idf)``)."""

    name = "flops-idf"
    query_weighting = "idf"

    def term_weights(self, idf: Any) -> Any:
        import torch

        return torch.relu(as_idf(idf, self.name))
