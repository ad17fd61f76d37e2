"""Torch networks, kept apart from the estimator wrappers in ``digirec.models``.

- :mod:`digirec.models.neural.mf`: biased matrix factorisation ``b + b_u + b_i + p_uᵀq_i``;
- :mod:`digirec.models.neural.sasrec`: SASRec, causal self-attention over item sequences;
- :mod:`digirec.models.neural.losses`: full-softmax cross-entropy, BPR, MSE.

The submodules import torch; this package itself does not, so importing it is free.
"""
