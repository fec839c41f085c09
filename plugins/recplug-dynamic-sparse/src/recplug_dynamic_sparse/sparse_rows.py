"""Compact serving forms of one table and the row lookups that read them.

Each ``*Rows`` module holds only the compact tensors and answers ``rows(ids) -> (n x D)`` float32:

- :class:`DenseRows`: the plain table (N x D float32).
- :class:`SparseRows`: a sparse table in one of two layouts, whichever is smaller: CSR (row pointer
  int32 N+1, column index uint8/int16 per value, values float32) or a bitmap (row pointer, N x ⌈D/8⌉ bits,
  values). Rows without any active weight cost only their row-pointer entry (row pruning for free). Values
  may instead be int8 codes with a float16 scale per row (``value_bits=8``: a quarter of the value bytes).
- :class:`QuantizedRows`: row-wise affine int8 or int4 codes with a float16 scale and offset per row.
- :class:`HashedRows`: the hashing trick, ``W[h(id) mod m]`` with a universal hash.
- :class:`QuotientRemainderRows`: the compositional trick, ``Q[id // m] + R[id mod m]``.

``nbytes()`` is the real size of what serving keeps in memory.
"""

from __future__ import annotations

from typing import Any

import torch

from recplug_dynamic_sparse.config import check_value_bits

#: The prime of the universal hash ``((a · id + b) mod P) mod m``.
HASH_PRIME = 2_147_483_647


def _tensor_bytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class DenseRows(torch.nn.Module):
    """A plain float32 table (N x D).

    Example::

        >>> import torch
        >>> table = DenseRows(torch.randn(10, 4))  # N=10, D=4
        >>> table.rows(torch.tensor([0, 3, 3])).shape
        torch.Size([3, 4])
        >>> table.nbytes()
        160
    """

    kind = "dense"
    weight: torch.Tensor

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight.detach().float().contiguous())

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids]

    def nbytes(self) -> int:
        return _tensor_bytes(self.weight)

    def payload(self) -> dict[str, Any]:
        return {"weight": self.weight}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], shape: tuple[int, int]) -> DenseRows:
        return cls(payload["weight"])


class SparseRows(torch.nn.Module):
    """A sparse table (N x D) in CSR or bitmap layout, values float32 or int8.

    Args:
        row_ptr: int32 (N+1,), start of each row's values.
        values: float32 (nnz,), row-major; or int8 codes (nnz,) when ``scale`` is given.
        dim: D.
        columns: column of each value (nnz,) uint8 (D ≤ 256) or int16 — CSR layout; or
        bits: N x ⌈D/8⌉ uint8, little-endian bit ``c`` of row ``r`` set when entry (r, c) is active — bitmap layout.
        scale: float16 (N,), with int8 ``values``: entry = code · scale of its row (symmetric, per row).

    Example::

        >>> import torch
        >>> weight = torch.randn(6, 8)  # N=6, D=8
        >>> mask = weight.abs() > 1.0
        >>> table = SparseRows.from_dense(weight, mask)
        >>> table.rows(torch.tensor([0, 5])).shape
        torch.Size([2, 8])
        >>> bool(torch.equal(table.dense(), weight * mask))
        True
    """

    kind = "sparse"
    row_ptr: torch.Tensor
    values: torch.Tensor
    index: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self, row_ptr: torch.Tensor, values: torch.Tensor, dim: int, columns: torch.Tensor | None = None,
        bits: torch.Tensor | None = None, scale: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if (columns is None) == (bits is None):
            raise ValueError("give exactly one of columns (CSR) or bits (bitmap)")
        if scale is not None and (values.dtype != torch.int8 or scale.numel() != row_ptr.numel() - 1):
            raise ValueError("int8 values need an int8 values tensor and one scale per row")
        self.dim = dim
        self.layout = "csr" if columns is not None else "bitmap"
        self.value_bits = 8 if scale is not None else 32
        self.register_buffer("row_ptr", row_ptr.to(torch.int32).contiguous())
        self.register_buffer("values", values.contiguous() if scale is not None else values.float().contiguous())
        index = columns if columns is not None else bits
        assert index is not None  # exactly one of columns / bits, checked above
        self.register_buffer("index", index.contiguous())
        self.register_buffer("scale", scale.to(torch.float16).contiguous() if scale is not None else torch.empty(0, dtype=torch.float16))

    @classmethod
    def from_dense(cls, weight: torch.Tensor, mask: torch.Tensor, value_bits: int = 32) -> SparseRows:
        """Pack the entries of ``weight`` (N x D) where ``mask`` is True, in the smaller layout; with
        ``value_bits=8`` the values become int8 codes with a symmetric float16 scale per row (max |w| / 127)."""
        check_value_bits(value_bits)
        n, d = weight.shape
        mask = mask.bool()
        counts = mask.sum(dim=1)
        row_ptr = torch.zeros(n + 1, dtype=torch.int64)
        row_ptr[1:] = torch.cumsum(counts, 0)
        dense = weight.detach().float()
        values = dense[mask]
        scale = None
        if value_bits == 8:
            kept = dense * mask
            scale = (kept.abs().amax(dim=1) / 127).half()
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # all-zero rows: any scale will do
            values = torch.round(kept / scale.float()[:, None])[mask].clamp(-127, 127).to(torch.int8)
        nnz = values.numel()
        col_dtype = torch.uint8 if d <= 256 else torch.int16
        csr_bytes = nnz * torch.tensor([], dtype=col_dtype).element_size()
        bitmap_bytes = n * ((d + 7) // 8)
        if csr_bytes <= bitmap_bytes:
            columns = mask.nonzero()[:, 1].to(col_dtype)
            return cls(row_ptr, values, d, columns=columns, scale=scale)
        padded = torch.zeros(n, ((d + 7) // 8) * 8, dtype=torch.uint8)
        padded[:, :d] = mask.to(torch.uint8)
        weights = (2 ** torch.arange(8, dtype=torch.int32)).view(1, 1, 8)
        bits = (padded.view(n, -1, 8).to(torch.int32) * weights).sum(dim=2).to(torch.uint8)
        return cls(row_ptr, values, d, bits=bits, scale=scale)

    def _active(self, ids: torch.Tensor) -> torch.Tensor:
        """(n x D) bool of the active entries of rows ``ids``."""
        if self.layout == "bitmap":
            shifts = torch.arange(8, dtype=torch.int32)
            unpacked = (self.index[ids].to(torch.int32).unsqueeze(-1) >> shifts) & 1
            return unpacked.flatten(1)[:, : self.dim].bool()
        starts, counts = self._spans(ids)
        owner = torch.repeat_interleave(torch.arange(ids.numel()), counts)
        active = torch.zeros(ids.numel(), self.dim, dtype=torch.bool)
        active[owner, self.index[self._positions(starts, counts)].long()] = True
        return active

    def _spans(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        starts = self.row_ptr[ids].long()
        return starts, self.row_ptr[ids + 1].long() - starts

    @staticmethod
    def _positions(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        total = int(counts.sum())
        first = torch.cumsum(counts, 0) - counts
        return torch.repeat_interleave(starts - first, counts) + torch.arange(total)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()
        starts, counts = self._spans(ids)
        out = torch.zeros(ids.numel(), self.dim)
        values = self.values[self._positions(starts, counts)]
        if self.value_bits == 8:
            values = values.float() * torch.repeat_interleave(self.scale[ids].float(), counts)
        # active entries of each row, in row-major order, are exactly the row's values in order
        out[self._active(ids)] = values
        return out

    def nbytes(self) -> int:
        return _tensor_bytes(self.row_ptr, self.values, self.index, self.scale)

    def payload(self) -> dict[str, Any]:
        payload = {"layout": self.layout, "row_ptr": self.row_ptr, "values": self.values, "index": self.index}
        return payload | ({"scale": self.scale} if self.value_bits == 8 else {})

    @classmethod
    def from_payload(cls, payload: dict[str, Any], shape: tuple[int, int]) -> SparseRows:
        key = "columns" if payload["layout"] == "csr" else "bits"
        return cls(payload["row_ptr"], payload["values"], shape[1], **{key: payload["index"]}, scale=payload.get("scale"))

    def dense(self) -> torch.Tensor:
        return self.rows(torch.arange(self.row_ptr.numel() - 1))


class QuantizedRows(torch.nn.Module):
    """Row-wise affine quantization: ``w ≈ code · scale + offset`` with ``bits`` ∈ {8, 4} per entry.

    Args:
        codes: N x D uint8 (8 bits) or N x ⌈D/2⌉ uint8 (two 4-bit codes per byte, low nibble first).
        scale, offset: float16 (N,).
        bits: 8 or 4.
        dim: D.

    Example::

        >>> import torch
        >>> table = QuantizedRows.from_dense(torch.randn(6, 5), bits=4)  # N=6, D=5
        >>> table.codes.shape  # two 4-bit codes per byte
        torch.Size([6, 3])
        >>> table.rows(torch.tensor([1, 2])).shape
        torch.Size([2, 5])
    """

    kind = "quantized"
    codes: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor

    def __init__(self, codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, bits: int, dim: int) -> None:
        super().__init__()
        self.bits, self.dim = bits, dim
        self.register_buffer("codes", codes.to(torch.uint8).contiguous())
        self.register_buffer("scale", scale.to(torch.float16).contiguous())
        self.register_buffer("offset", offset.to(torch.float16).contiguous())

    @staticmethod
    def quantize(weight: torch.Tensor, bits: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Row-wise codes (N x D uint8, unpacked), scale and offset (float32 holding float16 values) of
        ``weight`` (N x D); with a ``generator`` the rounding is stochastic (unbiased)."""
        weight = weight.detach().float()
        levels = 2**bits - 1
        low = weight.min(dim=1).values.half().float()
        high = weight.max(dim=1).values
        scale = ((high - low) / levels).clamp(min=1e-6).half().float()
        scaled = (weight - low[:, None]) / scale[:, None]
        if generator is None:
            return torch.round(scaled).clamp(0, levels).to(torch.uint8), scale, low
        codes = torch.floor(scaled + torch.rand(scaled.shape, generator=generator)).clamp(0, levels)
        # pin each row's extremes to the ends of the grid, so projecting again (or exporting) is exact
        rows = torch.arange(weight.shape[0])
        codes[rows, weight.argmin(dim=1)] = 0
        codes[rows, weight.argmax(dim=1)] = levels
        return codes.to(torch.uint8), scale, low

    @classmethod
    def from_dense(cls, weight: torch.Tensor, bits: int) -> QuantizedRows:
        codes, scale, low = cls.quantize(weight, bits)
        if bits == 4:
            if codes.shape[1] % 2:
                codes = torch.cat([codes, torch.zeros(codes.shape[0], 1, dtype=torch.uint8)], dim=1)
            codes = codes[:, 0::2] | (codes[:, 1::2] << 4)
        return cls(codes, scale, low, bits, weight.shape[1])

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        codes = self.codes[ids]
        if self.bits == 4:
            codes = torch.stack([codes & 0x0F, codes >> 4], dim=-1).flatten(1)[:, : self.dim]
        return codes.float() * self.scale[ids].float()[:, None] + self.offset[ids].float()[:, None]

    def nbytes(self) -> int:
        return _tensor_bytes(self.codes, self.scale, self.offset)

    def payload(self) -> dict[str, Any]:
        return {"codes": self.codes, "scale": self.scale, "offset": self.offset, "bits": self.bits}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], shape: tuple[int, int]) -> QuantizedRows:
        return cls(payload["codes"], payload["scale"], payload["offset"], int(payload["bits"]), shape[1])


def universal_hash(ids: torch.Tensor, a: int, b: int, buckets: int) -> torch.Tensor:
    """``((a · id + b) mod P) mod buckets`` with P = 2^31 - 1 (ids < 2^31 so nothing overflows int64)."""
    return ((ids.long() * a + b) % HASH_PRIME) % buckets


class HashedRows(torch.nn.Module):
    """The hashing trick: ``W[h(id)]`` with ``W`` (m x D).

    Example::

        >>> import torch
        >>> table = HashedRows(torch.randn(4, 8), a=3, b=1)  # m=4 shared rows, D=8
        >>> table.rows(torch.tensor([0, 1000, 123456])).shape
        torch.Size([3, 8])
    """

    kind = "hashed"
    weight: torch.Tensor

    def __init__(self, weight: torch.Tensor, a: int, b: int) -> None:
        super().__init__()
        self.a, self.b = int(a), int(b)
        self.register_buffer("weight", weight.detach().float().contiguous())

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[universal_hash(ids, self.a, self.b, self.weight.shape[0])]

    def nbytes(self) -> int:
        return _tensor_bytes(self.weight)

    def payload(self) -> dict[str, Any]:
        return {"weight": self.weight, "a": self.a, "b": self.b}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], shape: tuple[int, int]) -> HashedRows:
        return cls(payload["weight"], payload["a"], payload["b"])


class QuotientRemainderRows(torch.nn.Module):
    """The quotient-remainder trick with additive combination: ``Q[id // m] + R[id mod m]``.

    Example::

        >>> import torch
        >>> table = QuotientRemainderRows(torch.randn(3, 8), torch.randn(4, 8))  # ids 0..11, m=4, D=8
        >>> table.rows(torch.tensor([0, 5, 11])).shape
        torch.Size([3, 8])
    """

    kind = "quotient_remainder"
    quotient: torch.Tensor
    remainder: torch.Tensor

    def __init__(self, quotient: torch.Tensor, remainder: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("quotient", quotient.detach().float().contiguous())
        self.register_buffer("remainder", remainder.detach().float().contiguous())

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        m = self.remainder.shape[0]
        ids = ids.long()
        return self.quotient[ids // m] + self.remainder[ids % m]

    def nbytes(self) -> int:
        return _tensor_bytes(self.quotient, self.remainder)

    def payload(self) -> dict[str, Any]:
        return {"quotient": self.quotient, "remainder": self.remainder}

    @classmethod
    def from_payload(cls, payload: dict[str, Any], shape: tuple[int, int]) -> QuotientRemainderRows:
        return cls(payload["quotient"], payload["remainder"])


#: Any of the compact row modules above (what serving reads a table from).
RowsModule = DenseRows | SparseRows | QuantizedRows | HashedRows | QuotientRemainderRows

ROW_KINDS: dict[str, type[RowsModule]] = {
    cls.kind: cls for cls in (DenseRows, SparseRows, QuantizedRows, HashedRows, QuotientRemainderRows)
}
