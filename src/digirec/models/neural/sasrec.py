"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

Network
-------
    x_t = E[s_t]·√d + P[t]                       item embedding (padding id 0) + learned position
    n_blocks x:  x = x + Drop(Attn(LN(x)))       causal multi-head self-attention
                 x = x + Drop(W2·Drop(ReLU(W1·LN(x))))   point-wise feed-forward
    h = LN(x)
    logits_t = h_t · E[1:]ᵀ                      tied input / output item embeddings

Conventions
-----------
- Token ``0`` is padding; item ``i`` (internal index) is token ``i + 1``.
- Sequences are **right-aligned** (left-padded) arrays of nominal length ``max_len``: the last
  column is the most recent item, and position embeddings are indexed by the column in that
  nominal array. A batch may be trimmed from the left (drop leading all-padding columns) with
  identical results, which is how training and scoring avoid computing on padding.
- Attention at position ``t`` sees real items at positions ``<= t`` only: the causal mask hides
  the future and the key-padding mask hides padding. Every query may also see itself, so rows of
  pure padding have one allowed key and the softmax never becomes NaN; padding positions are
  zeroed after every block and are never used as outputs or loss targets.

Blocks use the pre-layer-norm arrangement (normalise before each sub-layer, residual around it)
as in the original implementation's attention branch; it trains stably without warm-up.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PAD = 0


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a caller-supplied boolean mask (True = may attend)."""

    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % n_heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.head_dim = hidden // n_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, L, H)``; ``allowed``: ``(B, 1, L, L)`` bool -> ``(B, L, H)``."""
        batch, length, hidden = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, L, head_dim)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        out: torch.Tensor = self.out(y.transpose(1, 2).reshape(batch, length, hidden))
        return out


class SASRecBlock(nn.Module):
    """One transformer block: causal self-attention and a point-wise feed-forward network."""

    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(hidden)
        self.attn = CausalSelfAttention(hidden, n_heads, dropout)
        self.attn_dropout = nn.Dropout(dropout)
        self.ffn_norm = nn.LayerNorm(hidden)
        # "Point-wise" FFN: the same two linear maps at every position (Conv1d(k=1) in the paper).
        self.ffn = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.attn_dropout(self.attn(self.attn_norm(x), allowed))
        out: torch.Tensor = x + self.ffn(self.ffn_norm(x))
        return out


class SASRec(nn.Module):
    """The SASRec network (see the module docstring for the conventions).

    Parameters
    ----------
    n_items:
        Catalogue size; the embedding table has ``n_items + 1`` rows (row 0 = padding).
    max_len:
        Nominal sequence length (number of position embeddings).
    hidden, n_blocks, n_heads, dropout:
        Model width, depth, attention heads and dropout rate.
    item_content:
        Optional frozen ``(n_items, d)`` content vectors (e.g. text embeddings). They are kept
        as a buffer, projected by a learned ``d -> hidden`` map and added to the id embedding,
        for the inputs and the tied output alike: items with little data borrow from items
        with similar text.
    """

    def __init__(
        self,
        n_items: int,
        max_len: int = 50,
        hidden: int = 64,
        n_blocks: int = 2,
        n_heads: int = 1,
        dropout: float = 0.3,
        item_content: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.max_len = max_len
        self.hidden = hidden
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=PAD)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.emb_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SASRecBlock(hidden, n_heads, dropout) for _ in range(n_blocks))
        self.final_norm = nn.LayerNorm(hidden)
        self.content_proj: nn.Linear | None = None
        self.item_content: torch.Tensor | None
        if item_content is None:
            self.register_buffer("item_content", None)
        else:
            if item_content.ndim != 2 or item_content.shape[0] != n_items:
                raise ValueError(
                    f"item_content must be (n_items={n_items}, d), got {tuple(item_content.shape)}"
                )
            padded = torch.cat([torch.zeros(1, item_content.shape[1]), item_content.float()])
            self.register_buffer("item_content", padded)
            self.content_proj = nn.Linear(item_content.shape[1], hidden, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Small normal embeddings (the inputs are scaled by √hidden), Xavier linear maps."""
        std = 1.0 / math.sqrt(self.hidden)
        nn.init.normal_(self.item_emb.weight, std=std)
        nn.init.normal_(self.pos_emb.weight, std=std)
        with torch.no_grad():
            self.item_emb.weight[PAD].zero_()
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def item_table(self) -> torch.Tensor:
        """``(n_items + 1, hidden)`` item representations (row 0 = padding, all zeros): the id
        embedding plus, with content, the projected content vector."""
        if self.content_proj is None or self.item_content is None:
            return self.item_emb.weight
        table: torch.Tensor = self.item_emb.weight + self.content_proj(self.item_content)
        return table

    @property
    def item_vectors(self) -> torch.Tensor:
        """Output embeddings of the real items, ``(n_items, hidden)`` (tied with the input)."""
        return self.item_table()[1:]

    def encode(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(B, L, hidden)`` of right-aligned token sequences ``(B, L)``, L<=max_len.

        Row ``t`` summarises the items at positions ``<= t``; padding rows are zero before the
        final layer norm and must not be used.
        """
        length = seqs.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequences of length {length} exceed max_len={self.max_len}")
        # Right-aligned: the columns of a (possibly left-trimmed) batch are the last `length`
        # positions of the nominal max_len array.
        positions = torch.arange(self.max_len - length, self.max_len, device=seqs.device)
        real = seqs != PAD  # (B, L)
        items = self.item_emb(seqs) if self.content_proj is None else self.item_table()[seqs]
        x = items * math.sqrt(self.hidden) + self.pos_emb(positions)[None]
        x = self.emb_dropout(x) * real[..., None]
        allowed = attention_mask(real)
        for block in self.blocks:
            x = block(x, allowed) * real[..., None]
        out: torch.Tensor = self.final_norm(x)
        return out

    def logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Scores of every item for hidden states ``(..., hidden)`` -> ``(..., n_items)``."""
        return hidden_states @ self.item_vectors.T

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        """Next-item scores ``(B, n_items)`` after the last (most recent) position."""
        return self.logits(self.encode(seqs)[:, -1])


def attention_mask(real: torch.Tensor) -> torch.Tensor:
    """Boolean ``(B, 1, L, L)`` mask, True where query ``t`` may attend to key ``j``.

    ``j <= t`` (causal) and key ``j`` is a real item, or ``j == t`` (so no row is empty).
    """
    length = real.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=real.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=real.device)
    allowed = causal[None] & (real[:, None, :] | eye[None])
    return allowed[:, None]
