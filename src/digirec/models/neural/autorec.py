"""Item-based AutoRec (Sedhain et al., WWW 2015) as a torch module.

Each item ``i`` is the vector ``r_i ∈ R^{n_users}`` of the ratings it received (zeros where a
user did not rate it). The network reconstructs it through one sigmoid bottleneck::

    h_i  = σ(V r_i + μ)          (hidden,)       the item's code
    r̂_i = W h_i + b             (n_users,)      the predicted rating of every user for item i

so the prediction for ``(u, i)`` is ``W_u · h_i + b_u``: after training, ``W`` acts as user
factors, ``b`` as user biases and the codes ``h_i`` as item factors. The loss (in
:mod:`digirec.models.autorec`) only counts the observed entries of ``r_i`` for explicit ratings,
which is what lets the model fill in the missing ones instead of learning to predict zeros.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemAutoRec(nn.Module):
    """``r̂_i = W σ(V r_i + μ) + b`` for item rating vectors over ``n_users`` users.

    Parameters
    ----------
    n_users:
        Length of an item's rating vector (input and output width).
    hidden:
        Width of the sigmoid bottleneck.
    """

    def __init__(self, n_users: int, hidden: int) -> None:
        super().__init__()
        self.n_users = n_users
        self.hidden = hidden
        self.encoder = nn.Linear(n_users, hidden)
        self.decoder = nn.Linear(hidden, n_users)

    def encode(self, item_vectors: torch.Tensor) -> torch.Tensor:
        """Codes ``σ(V r + μ)`` of ``(n, n_users)`` item vectors: shape ``(n, hidden)``."""
        return torch.sigmoid(self.encoder(item_vectors))

    def forward(self, item_vectors: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``(n, n_users)`` item vectors: shape ``(n, n_users)``."""
        reconstruction: torch.Tensor = self.decoder(self.encode(item_vectors))
        return reconstruction

    def weight_norm(self) -> torch.Tensor:
        """``‖V‖² + ‖W‖²``: the paper's L2 penalty covers the weights, not the biases."""
        return self.encoder.weight.pow(2).sum() + self.decoder.weight.pow(2).sum()
