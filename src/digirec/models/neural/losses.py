"""Training losses of the torch recommenders.

All losses return a scalar mean over the examples of a batch.

- :func:`full_softmax_cross_entropy`: softmax over **all** items (no sampling). For a next-item
  or (user, item) target this is the multinomial likelihood; Klenitskiy & Vasilev (RecSys 2023)
  show that SASRec trained this way beats the original binary loss with one sampled negative by
  a wide margin, and it is affordable for catalogues of up to ~10^5 items.
- :func:`sampled_softmax_cross_entropy`: the same softmax over the positive and ``n`` uniformly
  sampled negatives shared by the batch, for catalogues where ``n x n_items`` logits are too big.
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


def sampled_softmax_cross_entropy(
    hidden: torch.Tensor, item_vectors: torch.Tensor, targets: torch.Tensor, n_negatives: int
) -> torch.Tensor:
    """Cross-entropy of ``targets`` against ``n_negatives`` items drawn uniformly for the batch.

    The negatives are shared by every example of the batch (one ``(n, n_negatives)`` product
    instead of ``(n, n_items)``); a negative that is an example's own target is masked out of
    that example's softmax. Uniform sampling needs no log-Q correction (a constant shift).
    Draws come from torch's global generator, which the trainer seeds.

    Parameters
    ----------
    hidden:
        ``(n, d)`` query vectors.
    item_vectors:
        ``(n_items, d)`` item vectors.
    targets:
        ``(n,)`` item index of each example's positive.
    n_negatives:
        Negatives per batch.
    """
    negatives = torch.randint(0, item_vectors.shape[0], (n_negatives,), device=hidden.device)
    positive = (hidden * item_vectors[targets]).sum(dim=-1, keepdim=True)
    negative = hidden @ item_vectors[negatives].T
    negative = negative.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(targets))


def bpr_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """BPR: mean of ``-ln σ(positive - negative)`` (``softplus`` form, stable for large gaps)."""
    return F.softplus(negative - positive).mean()


def mse_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of predicted ratings."""
    return F.mse_loss(predicted, target)
