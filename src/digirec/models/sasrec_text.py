"""SASRec with content-aware item embeddings (registered as ``sasrec_text``).

The same network and training as :class:`~digirec.models.sasrec.SASRecModel`, with one change
to the item representation: every item's embedding is its id embedding **plus** a learned
projection of a frozen text vector of the item (title, brand, category, genres, description:
TF-IDF + SVD, :func:`digirec.features.content.text_svd_vectors`, fitted on the training items
only). The projection is shared by all items, so an item with few interactions -- or none, as
long as its catalogue row is known -- still sits near items with similar text, in the input
sequence and in the output softmax alike. The id embedding keeps whatever the text cannot say.

Use it where the catalogue has text (Office, the synthetic shop, MovieLens titles and genres);
a catalogue without any text is a configuration error, never a silent plain SASRec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.features.text import DEFAULT_TEXT_FIELDS
from digirec.models.base import ModelConfig
from digirec.models.sasrec import SASRecConfig, SASRecModel

if TYPE_CHECKING:
    from digirec.models.neural.sasrec import SASRec

#: Text fields read by default: the catalogue's text plus MovieLens-style genres.
TEXT_FIELDS = (*DEFAULT_TEXT_FIELDS, "genres")


class TextSASRecConfig(SASRecConfig):
    """Configuration of :class:`TextSASRecModel` (the SASRec settings plus the text vectors).

    Attributes
    ----------
    text_dim:
        Dimensions of the frozen text vectors (SVD components).
    text_fields:
        Catalogue columns joined into an item's text (absent columns are skipped).
    """

    text_dim: int = Field(64, ge=1, description="Text vector dimensions (TF-IDF + SVD).")
    text_fields: tuple[str, ...] = Field(TEXT_FIELDS, description="Columns of the item text.")


class TextSASRecModel(SASRecModel):
    """SASRec whose item embeddings add a projected, frozen text vector (see the module doc).

    Attributes
    ----------
    item_text_:
        ``(n_items, text_dim)`` float32 text vectors of the fit (also inside ``net_``).
    """

    name: ClassVar[str] = "sasrec_text"
    config_class: ClassVar[type[ModelConfig]] = TextSASRecConfig
    requires_item_features: ClassVar[bool] = True
    config: TextSASRecConfig

    item_text_: NDArray[np.float32] | None = None

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        from digirec.features.content import text_svd_vectors, training_items

        cfg = self.config
        if dataset.items is None:
            raise ConfigError("sasrec_text needs item features: the dataset has no item table")
        vectors = text_svd_vectors(
            dataset.items,
            training_items(dataset),
            cfg.text_dim,
            cfg.text_fields,
            random_state=cfg.random_state,
        )
        if vectors is None:
            raise ConfigError(
                f"sasrec_text: the catalogue has no text in {list(cfg.text_fields)}; "
                "use sasrec for a catalogue without text"
            )
        self.item_text_ = np.ascontiguousarray(vectors, dtype=np.float32)
        super()._fit(dataset, valid)

    def _build_net(self, n_items: int) -> SASRec:
        import torch

        from digirec.models.neural.sasrec import SASRec

        cfg = self.config
        # At load time the vectors come back with the network's state (a persistent buffer):
        # build it with a placeholder of the right shape.
        text = (
            self.item_text_
            if self.item_text_ is not None
            else np.zeros((n_items, cfg.text_dim), dtype=np.float32)
        )
        return SASRec(
            n_items=n_items,
            max_len=cfg.max_len,
            hidden=cfg.hidden,
            n_blocks=cfg.n_blocks,
            n_heads=cfg.n_heads,
            dropout=cfg.dropout,
            item_content=torch.from_numpy(text),
        )
