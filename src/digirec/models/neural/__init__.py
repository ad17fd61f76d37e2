"""Torch networks, kept apart from the estimator wrappers in ``digirec.models``.

- :mod:`digirec.models.neural.mf`: biased matrix factorisation ``b + b_u + b_i + p_uᵀq_i``;
- :mod:`digirec.models.neural.sasrec`: SASRec, causal self-attention over item sequences;
- :mod:`digirec.models.neural.twotower`: user tower (id, attributes, profile, pooled history)
  and item tower (id, catalogue attributes, text, image vectors) scored by cosine + item bias;
- :mod:`digirec.models.neural.autorec`: I-AutoRec, an item-based autoencoder of ratings;
- :mod:`digirec.models.neural.losses`: full-softmax cross-entropy, BPR, MSE.

The submodules import torch; this package itself does not, so importing it is free.
"""
