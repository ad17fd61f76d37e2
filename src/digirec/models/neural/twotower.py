"""Two-tower hybrid network: a user tower and an item tower meeting in a dot product.

Network
-------
::

    item tower   (v_i, b_i) = MLP_I([ e_i·k_i ;  W_c·x_i ;  k_i ])
    user tower   u   = MLP_U([ e_u·k_u ;  W_a·a_u·k_a ;  W_p·p_u·k_p ;  h̄_u ;  k_u, k_a, k_p, k_h ])
    score        s(u, i) = ⟨u, v_i⟩ / τ + b_i        (cosine of u and v_i when ``normalize``)

- ``e_i`` / ``e_u``: id embeddings; ``k_i`` / ``k_u`` in {0, 1} say whether the id is used.
  Training zeroes a random share of them (id dropout) and scoring zeroes them for ids the model
  never saw in training, so the content / feature paths learn to stand on their own: this is
  what lets a cold item be scored from its catalogue row alone.
- ``x_i``: the item's content row (catalogue multi-hot, price bands, specs, text and image
  vectors) as one sparse row; ``W_c·x_i`` is a linear map (an ``EmbeddingBag`` summing feature
  embeddings weighted by the feature values, or a dense product for small catalogues).
- ``a_u``: given user attributes (age, gender, occupation ...); ``p_u``: the behavioural
  profile (brand / category / price-band affinities, activity, recency); both sparse rows with
  their own keep flag ``k_a`` / ``k_p``.
- ``b_i``: a scalar item bias from the same tower (content-based for cold items). It carries
  popularity, which a cosine cannot: without it the cosine model spends its directions on
  popularity (every vector drifts towards one "popular" direction) and, on data without
  content, can sit on a popularity-only plateau for many epochs.
- ``h̄_u``: the mean of the item vectors ``v`` of the user's recent items (``k_h = 0`` for an
  empty history). Sharing the item tower means items in a history need no id either.
- ``MLP``: ``n_layers`` hidden ReLU layers, or a single linear map when ``n_layers == 0``.
- The keep flags are also inputs, so the tower knows which evidence it was given (id only,
  attributes only, history only ...) instead of reading zeros as "average user".

Every part is optional at construction: without catalogue the item tower reads ids only,
without a user table the attribute block is absent, and so on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Padding value of history index arrays (no item).
PAD = -1


def csr_rows(
    indptr: torch.Tensor, indices: torch.Tensor, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of the non-zeros of ``rows`` in a CSR matrix, and each row's offset.

    Returns ``(positions, offsets)``: ``indices[positions]`` / ``data[positions]`` are the
    selected rows' entries back to back, ``offsets[r]`` where row ``r`` starts (the layout
    ``nn.EmbeddingBag`` takes).
    """
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = torch.cumsum(lengths, 0) - lengths
    total = int(lengths.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.long, device=indices.device), offsets
    # Entry j of the output belongs to row r(j) and sits (j - offsets[r]) after that row's start.
    row_of = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), lengths)
    positions = torch.arange(total, device=rows.device) - offsets[row_of] + starts[row_of]
    return positions, offsets


#: Feature matrices with at most this many cells are held dense: a row gather and a matrix
#: product beat the sparse bag by far on small catalogues (MovieLens: 1,682 x ~100).
DENSE_MAX_CELLS = 1 << 24


class SparseFeatures(nn.Module):
    """A fixed sparse ``(n_rows, n_features)`` matrix times a learned ``(n_features, dim)`` map.

    The matrix is data, not a parameter: it is held in non-persistent buffers (the estimator
    saves it itself and rebuilds the module around it), so it moves with the module to the
    training device. Small matrices are held dense, large ones as CSR read through an
    ``EmbeddingBag`` (sum of the row's feature embeddings weighted by the feature values); the
    parameter is the same ``(n_features, dim)`` table either way.
    """

    indptr: torch.Tensor
    indices: torch.Tensor
    values: torch.Tensor
    dense: torch.Tensor

    def __init__(
        self,
        indptr: torch.Tensor,
        indices: torch.Tensor,
        values: torch.Tensor,
        n_features: int,
        dim: int,
        init_std: float,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_rows = len(indptr) - 1
        self.is_dense = self.n_rows * n_features <= DENSE_MAX_CELLS
        if self.is_dense:
            lengths = indptr[1:] - indptr[:-1]
            rows = torch.repeat_interleave(torch.arange(self.n_rows), lengths)
            dense = torch.zeros(self.n_rows, n_features)
            dense[rows, indices.long()] = values.float()
            self.register_buffer("dense", dense, persistent=False)
        else:
            self.register_buffer("indptr", indptr.long(), persistent=False)
            self.register_buffer("indices", indices.long(), persistent=False)
            self.register_buffer("values", values.float(), persistent=False)
        self.bag = nn.EmbeddingBag(n_features, dim, mode="sum")
        nn.init.normal_(self.bag.weight, std=init_std)

    def set_rows(self, indptr: torch.Tensor, indices: torch.Tensor, values: torch.Tensor) -> None:
        """Replace the fixed matrix by another with the same shape, keeping the learned map.

        The two-tower model trains on leak-free per-example inputs (a user's profile as of
        the first half of their history) and scores with the full-history profile.
        """
        n_rows = len(indptr) - 1
        if n_rows != self.n_rows:
            raise ValueError(f"set_rows: {n_rows} rows given, the module has {self.n_rows}")
        device = self.bag.weight.device
        if self.is_dense:
            lengths = indptr[1:] - indptr[:-1]
            rows = torch.repeat_interleave(torch.arange(n_rows), lengths)
            dense = torch.zeros(n_rows, self.n_features)
            dense[rows, indices.long()] = values.float()
            self.dense = dense.to(device)
        else:
            self.indptr = indptr.long().to(device)
            self.indices = indices.long().to(device)
            self.values = values.float().to(device)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``(len(rows), dim)``: the linear map of the selected rows (empty rows give zeros)."""
        if self.is_dense:
            return self.dense[rows] @ self.bag.weight
        positions, offsets = csr_rows(self.indptr, self.indices, rows)
        out: torch.Tensor = self.bag(
            self.indices[positions], offsets, per_sample_weights=self.values[positions]
        )
        return out


def mlp(n_in: int, hidden: int, n_out: int, n_layers: int, dropout: float) -> nn.Sequential:
    """``n_layers`` hidden ReLU layers of width ``hidden`` (0: one linear map), then ``n_out``."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


CSR = tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]
"""A sparse matrix as ``(indptr, indices, values, n_columns)`` tensors."""


class TwoTower(nn.Module):
    """The two-tower network (see the module docstring).

    Parameters
    ----------
    n_users, n_items:
        Id table sizes.
    item_content, user_attributes, user_profile:
        Sparse feature matrices (rows aligned with ``item_idx`` / ``user_idx``) or ``None``
        when the block is absent.
    dim:
        Width of the id embeddings, the feature projections and the tower outputs.
    hidden, n_layers, dropout:
        Hidden width, number of hidden layers and dropout of each tower's MLP.
    temperature:
        Divides the scores (a sharper softmax for ``< 1``).
    normalize:
        L2-normalise both towers' outputs (cosine scores).
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        item_content: CSR | None = None,
        user_attributes: CSR | None = None,
        user_profile: CSR | None = None,
        dim: int = 64,
        hidden: int = 128,
        n_layers: int = 0,
        dropout: float = 0.1,
        temperature: float = 1.0,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items
        self.dim = dim
        self.temperature = temperature
        self.normalize = normalize
        std = dim**-0.5
        self.item_id = nn.Embedding(n_items, dim)
        self.user_id = nn.Embedding(n_users, dim)
        nn.init.normal_(self.item_id.weight, std=std)
        nn.init.normal_(self.user_id.weight, std=std)

        def block(matrix: CSR | None) -> SparseFeatures | None:
            if matrix is None or matrix[3] == 0:
                return None
            indptr, indices, values, n_cols = matrix
            return SparseFeatures(indptr, indices, values, n_cols, dim, std)

        self.item_content = block(item_content)
        self.user_attributes = block(user_attributes)
        self.user_profile = block(user_profile)
        n_item_in = dim * (2 if self.item_content is not None else 1) + 1
        n_user_in = dim * 2 + 4
        n_user_in += dim if self.user_attributes is not None else 0
        n_user_in += dim if self.user_profile is not None else 0
        # One more output than dim: the item bias b_i.
        self.item_mlp = mlp(n_item_in, hidden, dim + 1, n_layers, dropout)
        self.user_mlp = mlp(n_user_in, hidden, dim, n_layers, dropout)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------ towers
    def item_vectors(self, items: torch.Tensor, id_keep: torch.Tensor) -> torch.Tensor:
        """Item-tower outputs ``(len(items), dim + 1)``: the vector ``v_i``, then the bias ``b_i``.

        ``id_keep`` (bool) says which item ids count.
        """
        keep = id_keep.to(self.item_id.weight.dtype)[:, None]
        parts = [self.item_id(items) * keep]
        if self.item_content is not None:
            parts.append(self.item_content(items))
        parts.append(keep)
        out: torch.Tensor = self.item_mlp(torch.cat(parts, dim=-1))
        if not self.normalize:
            return out
        return torch.cat([F.normalize(out[:, :-1], dim=-1), out[:, -1:]], dim=-1)

    @staticmethod
    def pool_history(
        items: torch.Tensor, history: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean item vector of ``items[history]`` per row, ignoring :data:`PAD`; and whether a
        row had any item.

        ``items`` are :meth:`item_vectors` outputs (the bias column is left out); ``history`` is
        ``(B, L)`` of row indices into ``items`` (``PAD`` = none).
        """
        vectors = items[:, :-1]
        real = history != PAD
        gathered = vectors[history.clamp(min=0)] * real[..., None].to(vectors.dtype)
        counts = real.sum(dim=1)
        pooled = gathered.sum(dim=1) / counts.clamp(min=1)[:, None].to(vectors.dtype)
        return pooled, counts > 0

    def user_vectors(
        self,
        users: torch.Tensor,
        *,
        id_keep: torch.Tensor,
        attributes_keep: torch.Tensor,
        profile_keep: torch.Tensor,
        history: torch.Tensor,
        history_keep: torch.Tensor,
    ) -> torch.Tensor:
        """User-tower outputs ``(B, dim)``.

        Parameters
        ----------
        users:
            ``(B,)`` user indices (any valid index where every user-specific keep flag is off).
        id_keep, attributes_keep, profile_keep, history_keep:
            ``(B,)`` bool: which evidence each row may use.
        history:
            ``(B, dim)`` pooled history vectors (:meth:`pool_history`).

        Returns
        -------
        torch.Tensor
            ``(B, dim)``, unit rows when ``normalize``.
        """
        dtype = self.user_id.weight.dtype

        def flag(mask: torch.Tensor) -> torch.Tensor:
            return mask.to(dtype)[:, None]

        k_id, k_attr, k_prof, k_hist = (
            flag(id_keep),
            flag(attributes_keep),
            flag(profile_keep),
            flag(history_keep),
        )
        parts = [self.user_id(users) * k_id]
        if self.user_attributes is not None:
            parts.append(self.user_attributes(users) * k_attr)
        if self.user_profile is not None:
            parts.append(self.user_profile(users) * k_prof)
        parts += [history * k_hist, k_id, k_attr, k_prof, k_hist]
        out: torch.Tensor = self.user_mlp(torch.cat(parts, dim=-1))
        return F.normalize(out, dim=-1) if self.normalize else out

    # ------------------------------------------------------------------ scores
    def scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Every user against every item: ``(B, dim) x (N, dim + 1) -> (B, N)``."""
        return users @ items[:, :-1].T / self.temperature + items[:, -1][None, :]

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Row-wise scores of aligned user ``(B, dim)`` and item ``(B, dim + 1)`` outputs."""
        return (users * items[:, :-1]).sum(dim=-1) / self.temperature + items[:, -1]
