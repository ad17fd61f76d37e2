"""Training losses of the torch recommenders.

All losses return a scalar mean over the examples of a batch.

- :func:`full_softmax_cross_entropy`: softmax over **all** items (no sampling). For a next-item
  or (user, item) target this is the multinomial likelihood; Klenitskiy & Vasilev (RecSys 2023)
  show that SASRec trained this way beats the original binary loss with one sampled negative by
  a wide margin, and it is affordable for catalogues of up to ~10^5 items.
- :func:`bpr_loss`: Bayesian personalised ranking, ``-ln σ(s_pos - s_neg)`` (Rendle et al. 2009).
- :func:`mse_loss`: squared error on explicit ratings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def full_softmax_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``targets`` under a softmax over all columns of ``logits``.

    Parameters
    ----------
    logits:
        ``(n, n_items)`` scores of every item for ``n`` examples.
    targets:
        ``(n,)`` item index (0-based column of ``logits``) of each example's positive.
    """
    return F.cross_entropy(logits, targets)


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """BPR: mean of ``-ln σ(positive - negative)`` (``softplus`` form, stable for large gaps)."""
    return F.softplus(negative - positive).mean()


def mse_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of predicted ratings."""
    return F.mse_loss(predicted, target)
