"""Biased matrix factorisation as a torch module.

    r̂_ui = b + b_u + b_i + p_uᵀ q_i

``b`` is a global offset, ``b_u``/``b_i`` user and item biases, ``p_u``/``q_i`` latent factors.
For explicit ratings all four terms matter; for implicit feedback trained with a softmax over
items, ``b`` and ``b_u`` are constant within a user's row and cancel (their gradient is zero),
so the ranking is ``b_i + p_uᵀ q_i``.
"""

from __future__ import annotations

import torch
from torch import nn


class MatrixFactorization(nn.Module):
    """``b + b_u + b_i + p_uᵀq_i`` for users x items.

    Parameters
    ----------
    n_users, n_items:
        Table sizes.
    factors:
        Latent dimension.
    init_std:
        Standard deviation of the normal initial factors (biases start at zero).
    """

    def __init__(self, n_users: int, n_items: int, factors: int, init_std: float = 0.1) -> None:
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items
        self.factors = factors
        self.user_factors = nn.Embedding(n_users, factors)
        self.item_factors = nn.Embedding(n_items, factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.global_bias = nn.Parameter(torch.zeros(()))
        nn.init.normal_(self.user_factors.weight, std=init_std)
        nn.init.normal_(self.item_factors.weight, std=init_std)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of the pairs ``(users[n], items[n])``: shape ``(n,)``."""
        dot = (self.user_factors(users) * self.item_factors(items)).sum(-1)
        scores: torch.Tensor = (
            self.global_bias
            + self.user_bias(users).squeeze(-1)
            + self.item_bias(items).squeeze(-1)
            + dot
        )
        return scores

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each user: shape ``(len(users), n_items)``."""
        return self.score_vectors(self.user_factors(users), self.user_bias(users).squeeze(-1))

    def score_vectors(self, user_vectors: torch.Tensor, user_bias: torch.Tensor) -> torch.Tensor:
        """Scores of every item for given user factors ``(n, factors)`` and biases ``(n,)``.

        Used for users folded in from a history (vectors that are not rows of the table).
        """
        return (
            self.global_bias
            + user_bias[:, None]
            + self.item_bias.weight.squeeze(-1)[None, :]
            + user_vectors @ self.item_factors.weight.T
        )
