"""Table gradients without ``.grad``: a backward hook on the lookup output.

torchrec's fused tables update their weights inside backward and never fill ``.grad``. The gradient of
a pooled lookup is still easy to rebuild: for a bag ``b`` of feature ``f`` (table ``t``) with ids
``i_1..i_L`` and per-value weights ``w``, ``∂loss/∂W_t[i_j] += w_j · s_b · G[b, f]`` where ``G`` is the
gradient of the pooled output (B x D for that feature) and ``s_b`` is 1 (sum pooling) or ``1/L`` (mean).
:class:`GradientProbe` puts a forward hook on every embedding module that registers a tensor hook on the
output's values and scatter-adds this into a dense per-table buffer (N x D). It works the same for
unsharded, data-parallel, table-wise and column-wise tables, and for any optimizer. Each process sees its
own mini-batch: :meth:`GradientProbe.reduced` sums the buffers over processes.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from recplug_dynamic_sparse.live_tables import embedding_modules, is_distributed

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _feature_layout(ebc: torch.nn.Module) -> dict[str, tuple[str, bool]]:
    """``{feature: (table name, mean pooling)}`` of a sharded or unsharded EmbeddingBagCollection."""
    import torchrec

    configs = cast("list[Any]", ebc._embedding_bag_configs)  # torchrec's EmbeddingBagConfigs (untyped)
    layout = {}
    for config in configs:
        for feature in config.feature_names:
            layout[feature] = (config.name, config.pooling == torchrec.PoolingType.MEAN)
    return layout


class GradientProbe:
    """Accumulates ∂loss/∂W for every table from the gradient of the pooled lookup output.

    Args:
        shapes: ``{table name: (N, D)}`` of the tables to watch.
        deferred: keep each backward's ``(ids, rows)`` and scatter them only when :meth:`reduced` is called
            (cheap when the buffers are cleared every step, as for last-mini-batch growth); otherwise scatter
            at once (the sum over many steps then costs one buffer).
    """

    def __init__(self, shapes: Mapping[str, tuple[int, int]] | None = None, deferred: bool = False) -> None:
        self.deferred = deferred
        self.pending: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        self.seen: dict[str, list[torch.Tensor]] = {}  # ids looked up since new_step(), per table
        self._distinct: dict[str, torch.Tensor] = {}  # rows_seen() of a table until more ids arrive
        self._handles: weakref.WeakKeyDictionary[torch.nn.Module, Any] = weakref.WeakKeyDictionary()
        self.backward_calls = 0
        self.add_tables(shapes or {})

    def add_tables(self, shapes: Mapping[str, tuple[int, int]]) -> None:
        """Watch more tables (e.g. the second tower's)."""
        import torch

        for name, shape in shapes.items():
            self.buffers[name] = torch.zeros(shape)
            self.pending[name] = []

    def attach(self, module: torch.nn.Module) -> int:
        """Hook every embedding module inside ``module`` not hooked yet; returns how many are hooked."""
        for ebc in embedding_modules(module):
            if ebc in self._handles:
                continue
            layout = _feature_layout(ebc)
            if not any(table in self.buffers for table, _ in layout.values()):
                continue
            hook = self._make_forward_hook(layout)
            self._handles[ebc] = ebc.register_forward_hook(hook, with_kwargs=True)
        return len(self._handles)

    def rows_seen(self, name: str) -> torch.Tensor | None:
        """Distinct rows of table ``name`` whose gradient arrived since :meth:`new_step` (``None``: none seen)."""
        import torch

        ids = self.seen.get(name)
        if not ids:
            return None
        if name not in self._distinct:
            self._distinct[name] = torch.unique(torch.cat(ids))
        return self._distinct[name]

    def new_step(self, names: Iterable[str]) -> None:
        """Forget the rows of tables ``names`` seen so far (call after each optimizer step)."""
        for name in names:
            self.seen.pop(name, None)
            self._distinct.pop(name, None)

    def clear(self, names: Iterable[str]) -> None:
        """Reset the buffers of tables ``names`` to zero."""
        for name in names:
            if self.deferred:
                self.pending[name] = []
            else:
                self.buffers[name].zero_()

    def reduced(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The buffers of tables ``names`` summed over all processes (a collective when several run)."""
        names = sorted(names)
        if self.deferred:
            for name in names:
                self.buffers[name].zero_()
                for ids, rows in self.pending[name]:
                    self.buffers[name].index_add_(0, ids, rows)
                self.pending[name] = []
        if is_distributed():
            import torch.distributed as dist

            for name in names:
                dist.all_reduce(self.buffers[name])
        return {name: self.buffers[name] for name in names}

    # ------------------------------------------------------------------------------------------------

    def _make_forward_hook(self, layout: dict[str, tuple[str, bool]]) -> Any:
        import torch

        def on_output(keyed: Any, features: Any) -> Any:
            values = keyed.values()
            if torch.is_grad_enabled() and values.requires_grad:
                # the hook must not hold `keyed`: keyed -> values -> hook -> keyed is a cycle through autograd's
                # C++ side that Python's GC cannot collect, so every step's batch would stay in memory
                dims = dict(zip(keyed.keys(), keyed.length_per_key(), strict=True))
                starts = dict(zip(keyed.keys(), keyed.offset_per_key(), strict=False))
                values.register_hook(lambda grad: self._scatter(grad, dims, starts, features, layout))
            return keyed

        def forward_hook(_module: Any, args: tuple, kwargs: dict, output: Any) -> Any:
            features = args[0] if args else kwargs.get("features")
            if hasattr(output, "callbacks"):  # a sharded module returns a LazyAwaitable
                output.callbacks.append(lambda keyed: on_output(keyed, features))
                return output
            return on_output(output, features)

        return forward_hook

    def _scatter(
        self,
        grad: torch.Tensor,
        dims: dict[str, int],
        starts: dict[str, int],
        features: Any,
        layout: dict[str, tuple[str, bool]],
    ) -> None:
        """Scatter ``grad`` (B x sum of dims, the pooled output's gradient; feature ``f`` in columns
        ``starts[f]:starts[f] + dims[f]``) into the buffers of the tables looked up by ``features``."""
        import torch

        self.backward_calls += 1
        grad = grad.detach()
        # slice the KJT by hand: to_dict() splits every feature and is slow
        batch = features.stride()
        values, lengths, weights = features.values(), features.lengths(), features.weights_or_none()
        value_offsets = features.offset_per_key()
        for k, key in enumerate(features.keys()):
            table, mean = layout.get(key, (None, False))
            if table not in self.buffers or key not in dims:
                continue
            block = grad[:, starts[key] : starts[key] + dims[key]]
            ids = values[value_offsets[k] : value_offsets[k + 1]].long()
            bag_lengths = lengths[k * batch : (k + 1) * batch].long()
            single = ids.numel() == batch and bool((bag_lengths == 1).all())
            rows = block if single else block[torch.repeat_interleave(torch.arange(batch), bag_lengths)]
            scale = None
            if weights is not None:
                scale = weights[value_offsets[k] : value_offsets[k + 1]].detach()
            if mean and not single:
                inverse = (1.0 / bag_lengths.clamp(min=1).float()).repeat_interleave(bag_lengths)
                scale = inverse if scale is None else scale * inverse
            if scale is not None:
                rows = rows * scale[:, None]
            self.seen.setdefault(table, []).append(ids.cpu())
            self._distinct.pop(table, None)
            if self.deferred:
                self.pending[table].append((ids.cpu(), rows.float().cpu()))
            else:
                # index_add_, not index_put_(accumulate=True): on several CPU threads the latter sums in no
                # fixed order (the buffer differs from run to run in the last bits) and is slower
                self.buffers[table].index_add_(0, ids.cpu(), rows.float().cpu())
        return None
