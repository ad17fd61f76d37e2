"""SASRec with content-aware item embeddings: the item table, and the configuration errors."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.models.neural.sasrec import SASRec
from digirec.models.registry import create_model


def test_item_table_adds_the_projected_content() -> None:
    torch.manual_seed(0)
    content = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    net = SASRec(n_items=3, max_len=4, hidden=4, n_blocks=1, item_content=content)
    assert net.content_proj is not None
    table = net.item_table().detach()
    expected = net.item_emb.weight.detach()[1:] + content @ net.content_proj.weight.detach().T
    torch.testing.assert_close(table[1:], expected)
    assert torch.count_nonzero(table[0]) == 0  # padding stays zero
    # Items 0 and 2 share their text: with equal id embeddings they are the same item.
    with torch.no_grad():
        net.item_emb.weight[3] = net.item_emb.weight[1]
    torch.testing.assert_close(net.item_vectors[0], net.item_vectors[2])
    # The content vectors are state (saved with the weights), not parameters.
    assert "item_content" in net.state_dict()
    assert all(p is not net.item_content for p in net.parameters())
    with pytest.raises(ValueError, match="item_content"):
        SASRec(n_items=4, item_content=content)


def test_a_catalogue_without_text_is_an_error() -> None:
    frame = pd.DataFrame(
        {C.USER_ID: ["a", "a", "b", "b"], C.ITEM_ID: ["x", "y", "x", "y"], C.TIMESTAMP: range(4)}
    )
    items = pd.DataFrame({C.ITEM_ID: ["x", "y"], C.PRICE: [1.0, 2.0]})
    model = create_model("sasrec_text", {"epochs": 1, "show_progress": False})
    with pytest.raises(ConfigError, match="no text"):
        model.fit(Dataset.from_interactions(frame, items=items))
    with pytest.raises(ConfigError, match="item table"):
        model.fit(Dataset.from_interactions(frame))
