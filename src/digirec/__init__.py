"""digirec: a recommender system for digital and consumer-electronics shops."""

from __future__ import annotations

__version__ = "0.1.0"
