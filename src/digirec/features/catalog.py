"""Catalogue features: brand / category / spec one-hot and multi-hot columns, price bands.

:func:`build_item_features` turns a catalogue table (``Dataset.items``, row ``i`` describes
``item_idx == i``) into one sparse ``items x features`` matrix that content models, hybrid
towers and user profiles share. Every field is fitted on the catalogue once and then frozen in a
:class:`CatalogFeaturizer`, so new catalogue rows (cold items) are featurised with exactly the
same columns: values never seen at fit time, values rarer than ``min_count`` and missing values
all land in the field's ``<other>`` bucket.

Fields and their columns
------------------------
* single-valued categorical columns (``brand``, ``category``, ``subcategory`` ...): one-hot;
* multi-valued columns (MovieLens ``genres``, the shop's ``features``; ``"a|b|c"`` cells):
  multi-hot;
* ``price_band``: quantile bands of the catalogue prices (``n_price_bands``), plus one band for
  a missing price;
* ``price``: ``log1p(price)`` standardised on the catalogue (0 when missing);
* ``spec``: numeric specification columns (``storage_gb``, ``screen_inch`` ...) standardised,
  ``log1p`` first when the column is non-negative (specs span orders of magnitude), each with a
  ``missing`` indicator because a missing spec usually means "does not apply" (headphones have
  no screen), which is information in itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from digirec import columns as C
from digirec.data.schema import coerce_prices
from digirec.exceptions import ConfigError, NotFittedError

__all__ = [
    "FEATURES",
    "GENRES",
    "OTHER",
    "PRICE_BAND",
    "PRICE_MISSING",
    "SPEC",
    "SUBCATEGORY",
    "CatalogConfig",
    "CatalogFeaturizer",
    "ItemFeatures",
    "build_item_features",
]

# Catalogue columns beyond digirec.columns that the featuriser knows by default.
SUBCATEGORY = "subcategory"
GENRES = "genres"
FEATURES = "features"

#: Field names of the derived (non-column) fields.
PRICE_BAND = "price_band"
PRICE_FIELD = "price"
SPEC = "spec"

#: Label of the bucket that collects rare, unseen and missing values of a categorical field.
OTHER = "<other>"
#: Label of the price band of items without a price.
PRICE_MISSING = "missing"

# Columns that are never numeric specs even when their dtype is numeric.
_NOT_SPECS = frozenset(
    {C.ITEM_ID, C.ITEM_IDX, C.PRICE, C.RATING, C.WEIGHT, C.TIMESTAMP, C.SCORE, C.RANK}
)

# Version of the serialised layout (bumped when to_dict/from_dict change incompatibly).
_STATE_VERSION = 1


class CatalogConfig(BaseModel):
    """Which catalogue columns become features and how.

    Attributes
    ----------
    categorical:
        Single-valued categorical columns, one-hot encoded. Columns absent from the catalogue
        are skipped.
    multi_valued:
        Multi-valued columns and their separator (``"Action|Comedy"``), multi-hot encoded.
    numeric:
        Numeric spec columns; ``None`` detects every numeric (non-bool) column other than ids,
        price and interaction columns. Give an explicit list to keep ground-truth or
        leakage-prone columns out.
    min_count:
        Values seen in fewer catalogue rows go to the field's ``<other>`` bucket. The default 2
        gives the bucket training signal ("a rare brand"), which a cold item with a new brand
        then reuses; 1 keeps every value.
    max_values:
        At most this many values per field (the most frequent); ``None`` = no limit.
    n_price_bands:
        Number of quantile price bands (fewer when prices repeat so much that quantiles tie).
    log_specs:
        Apply ``log1p`` to non-negative spec columns before standardising.
    """

    model_config = ConfigDict(extra="forbid")

    categorical: tuple[str, ...] = (C.BRAND, C.CATEGORY, SUBCATEGORY)
    multi_valued: dict[str, str] = Field(default_factory=lambda: {GENRES: "|", FEATURES: "|"})
    numeric: tuple[str, ...] | None = None
    min_count: int = Field(default=2, ge=1)
    max_values: int | None = Field(default=None, ge=1)
    n_price_bands: int = Field(default=5, ge=1)
    log_specs: bool = True


# ---------------------------------------------------------------------------- helpers
def _clean_values(values: pd.Series) -> pd.Series:
    """Strings with surrounding blanks removed; missing and empty cells become ``None``."""
    # Built as a list: Series.map would re-infer a string dtype and turn None back into NaN.
    cleaned = [
        None if missing else (str(v).strip() or None)
        for v, missing in zip(values.tolist(), values.isna().tolist(), strict=True)
    ]
    return pd.Series(cleaned, dtype=object)


def _split_cells(values: pd.Series, sep: str) -> list[list[str]]:
    """``"a|b"`` cells to token lists (empty list for a missing cell), duplicates removed."""
    cells = _clean_values(values)
    out: list[list[str]] = []
    for cell in cells:
        if cell is None:
            out.append([])
            continue
        tokens = [t.strip() for t in str(cell).split(sep)]
        out.append(list(dict.fromkeys(t for t in tokens if t)))
    return out


def _fit_vocab(tokens: list[list[str]], min_count: int, max_values: int | None) -> list[str]:
    """Vocabulary ordered by document frequency (desc) then value, ``<other>`` first."""
    counts = pd.Series([t for row in tokens for t in row], dtype=object).value_counts()
    kept = [(str(v), int(n)) for v, n in counts.items() if n >= min_count and str(v) != OTHER]
    kept.sort(key=lambda vn: (-vn[1], vn[0]))
    if max_values is not None:
        kept = kept[:max_values]
    return [OTHER] + [v for v, _ in kept]


def _band_labels(edges: NDArray[np.float64]) -> list[str]:
    """Labels of the bands cut by ``edges``: band ``b`` is ``edges[b-1] <= p < edges[b]``."""
    if edges.size == 0:
        return ["all"]
    fmt = [f"{e:g}" for e in edges]
    labels = [f"<{fmt[0]}"]
    labels += [f"{fmt[i]}-{fmt[i + 1]}" for i in range(len(fmt) - 1)]
    labels.append(f">={fmt[-1]}")
    return labels


def _column(items: pd.DataFrame, name: str) -> pd.Series:
    if name in items.columns:
        return items[name].reset_index(drop=True)
    return pd.Series([None] * len(items), dtype=object)


def _prices(items: pd.DataFrame) -> NDArray[np.float64]:
    """The price column by the one price rule (NaN: unknown or not a valid price)."""
    return coerce_prices(_column(items, C.PRICE))


def _numeric(items: pd.DataFrame, name: str) -> NDArray[np.float64]:
    values = pd.to_numeric(_column(items, name), errors="coerce")
    out: NDArray[np.float64] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


# ---------------------------------------------------------------------------- featurizer
@dataclass
class CatalogFeaturizer:
    """The fitted, frozen recipe that turns catalogue rows into feature rows.

    Build it with :meth:`fit`; :meth:`transform` then featurises any catalogue frame (the
    training catalogue or new items) into the same columns. The state is plain numpy arrays
    and JSON-able lists (:meth:`to_dict` / :meth:`from_dict`), so a model bundle can store it.

    Attributes
    ----------
    config:
        The configuration used for fitting.
    vocabs:
        Per categorical / multi-valued field, the values in column order (``<other>`` first).
    price_edges:
        Inner quantile edges of the price bands (``None`` when the catalogue has no price).
    price_mean, price_std:
        Moments of ``log1p(price)`` on the catalogue.
    specs:
        Spec column names with their transform: ``(name, use_log, mean, std)``.
    """

    config: CatalogConfig = field(default_factory=CatalogConfig)
    vocabs: dict[str, list[str]] = field(default_factory=dict)
    multi_fields: dict[str, str] = field(default_factory=dict)
    price_edges: NDArray[np.float64] | None = None
    price_mean: float = 0.0
    price_std: float = 1.0
    specs: list[tuple[str, bool, float, float]] = field(default_factory=list)
    is_fitted: bool = False

    # ------------------------------------------------------------------ fit
    def fit(self, items: pd.DataFrame) -> CatalogFeaturizer:
        """Learn vocabularies, price bands and spec moments from a catalogue table.

        Parameters
        ----------
        items:
            Catalogue frame (one row per item; extra columns are ignored).

        Returns
        -------
        CatalogFeaturizer
            ``self``, fitted.
        """
        cfg = self.config
        self.vocabs = {}
        self.multi_fields = {}
        for name in cfg.categorical:
            if name not in items.columns:
                continue
            cells = _clean_values(_column(items, name))
            tokens = [[v] if v is not None else [] for v in cells]
            self.vocabs[name] = _fit_vocab(tokens, cfg.min_count, cfg.max_values)
        for name, sep in cfg.multi_valued.items():
            if name not in items.columns or name in self.vocabs:
                continue
            tokens = _split_cells(_column(items, name), sep)
            self.vocabs[name] = _fit_vocab(tokens, cfg.min_count, cfg.max_values)
            self.multi_fields[name] = sep

        self.price_edges = None
        if C.PRICE in items.columns:
            price = _prices(items)
            known = price[np.isfinite(price)]
            if known.size:
                qs = np.linspace(0.0, 1.0, cfg.n_price_bands + 1)[1:-1]
                # Ties (many items at 9.99) collapse quantiles; unique edges mean fewer bands.
                edges = np.unique(np.quantile(known, qs)) if qs.size else np.empty(0)
                self.price_edges = edges.astype(np.float64)
                logp = np.log1p(np.clip(known, 0.0, None))
                self.price_mean = float(logp.mean())
                self.price_std = float(logp.std()) or 1.0

        self.specs = []
        spec_names = cfg.numeric if cfg.numeric is not None else self._detect_specs(items)
        for name in spec_names:
            if name not in items.columns:
                continue
            values = _numeric(items, name)
            known = values[np.isfinite(values)]
            if known.size == 0:
                continue
            use_log = bool(cfg.log_specs and known.min() >= 0)
            if use_log:
                known = np.log1p(known)
            self.specs.append((name, use_log, float(known.mean()), float(known.std()) or 1.0))
        self.is_fitted = True
        return self

    def _detect_specs(self, items: pd.DataFrame) -> list[str]:
        taken = set(self.config.categorical) | set(self.config.multi_valued)
        out = []
        for name in items.columns:
            dtype = items[name].dtype
            if name in _NOT_SPECS or name in taken:
                continue
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                continue
            out.append(str(name))
        return out

    # ------------------------------------------------------------------ layout
    def _check(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("CatalogFeaturizer is not fitted: call fit(items) first")

    @property
    def price_band_labels(self) -> list[str]:
        """Labels of the price bands in column order: the quantile bands, then ``missing``."""
        self._check()
        if self.price_edges is None:
            return []
        return [*_band_labels(self.price_edges), PRICE_MISSING]

    def field_names(self) -> dict[str, list[str]]:
        """Per field, the labels of its columns in matrix order."""
        self._check()
        out: dict[str, list[str]] = {name: list(v) for name, v in self.vocabs.items()}
        if self.price_edges is not None:
            out[PRICE_BAND] = self.price_band_labels
            out[PRICE_FIELD] = ["log_price_z"]
        if self.specs:
            labels = []
            for name, *_ in self.specs:
                labels += [name, f"{name}:missing"]
            out[SPEC] = labels
        return out

    @property
    def n_features(self) -> int:
        return sum(len(v) for v in self.field_names().values())

    # ------------------------------------------------------------------ transform
    def codes(self, items: pd.DataFrame, field_name: str) -> NDArray[np.int64]:
        """Column index inside a single-valued field for each row (0 = ``<other>``).

        For ``price_band`` the code is the band index; items without a price get the last code
        (the ``missing`` band).
        """
        self._check()
        if field_name == PRICE_BAND:
            if self.price_edges is None:
                raise KeyError("the catalogue had no price column: no price bands")
            price = _prices(items)
            band = np.searchsorted(self.price_edges, price, side="right").astype(np.int64)
            band[~np.isfinite(price)] = len(self.price_edges) + 1
            return band
        if field_name not in self.vocabs:
            raise KeyError(f"unknown categorical field {field_name!r}; known: {list(self.vocabs)}")
        if field_name in self.multi_fields:
            raise ValueError(
                f"{field_name!r} is multi-valued: use ItemFeatures.field_matrix() instead of codes"
            )
        lookup = pd.Index(self.vocabs[field_name][1:])
        cells = _clean_values(_column(items, field_name)).to_numpy(dtype=object)
        idx: NDArray[np.int64] = lookup.get_indexer(cells).astype(np.int64)
        # get_indexer gives -1 for unseen and missing: both shift to 0, the <other> bucket.
        return idx + 1

    def _multi_hot(self, items: pd.DataFrame, field_name: str) -> sp.csr_matrix:
        vocab = self.vocabs[field_name]
        lookup = {v: i for i, v in enumerate(vocab)}
        rows: list[int] = []
        cols: list[int] = []
        for r, tokens in enumerate(
            _split_cells(_column(items, field_name), self.multi_fields[field_name])
        ):
            hit = sorted({lookup.get(t, 0) for t in tokens}) if tokens else [0]
            rows += [r] * len(hit)
            cols += hit
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(items), len(vocab)))

    def _one_hot(self, codes: NDArray[np.int64], width: int) -> sp.csr_matrix:
        n = codes.size
        data = np.ones(n, dtype=np.float32)
        return sp.csr_matrix((data, (np.arange(n), codes)), shape=(n, width))

    def transform(self, items: pd.DataFrame) -> sp.csr_matrix:
        """Featurise catalogue rows with the fitted vocabularies (same columns as at fit time).

        Parameters
        ----------
        items:
            Any catalogue frame; missing columns are treated as missing values.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(len(items), n_features)`` float32.
        """
        self._check()
        blocks: list[sp.csr_matrix] = []
        for name, vocab in self.vocabs.items():
            if name in self.multi_fields:
                blocks.append(self._multi_hot(items, name))
            else:
                blocks.append(self._one_hot(self.codes(items, name), len(vocab)))
        if self.price_edges is not None:
            blocks.append(self._one_hot(self.codes(items, PRICE_BAND), len(self.price_edges) + 2))
            price = _prices(items)
            z = (np.log1p(np.clip(price, 0.0, None)) - self.price_mean) / self.price_std
            blocks.append(sp.csr_matrix(np.nan_to_num(z, nan=0.0)[:, None].astype(np.float32)))
        if self.specs:
            dense = np.zeros((len(items), 2 * len(self.specs)), dtype=np.float32)
            for j, (name, use_log, mean, std) in enumerate(self.specs):
                values = _numeric(items, name)
                missing = ~np.isfinite(values)
                if use_log:
                    values = np.log1p(np.clip(values, 0.0, None))
                dense[:, 2 * j] = np.where(missing, 0.0, (values - mean) / std)
                dense[:, 2 * j + 1] = missing
            blocks.append(sp.csr_matrix(dense))
        if not blocks:
            return sp.csr_matrix((len(items), 0), dtype=np.float32)
        out = sp.hstack(blocks, format="csr", dtype=np.float32)
        out.eliminate_zeros()
        return out

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (the price edges as a list); see :meth:`from_dict`."""
        self._check()
        return {
            "version": _STATE_VERSION,
            "config": self.config.model_dump(mode="json"),
            "vocabs": self.vocabs,
            "multi_fields": self.multi_fields,
            "price_edges": None if self.price_edges is None else self.price_edges.tolist(),
            "price_mean": self.price_mean,
            "price_std": self.price_std,
            "specs": [list(s) for s in self.specs],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> CatalogFeaturizer:
        """Rebuild a fitted featuriser from :meth:`to_dict` output."""
        if state.get("version") != _STATE_VERSION:
            raise ConfigError(f"unsupported CatalogFeaturizer state version {state.get('version')}")
        edges = state["price_edges"]
        return cls(
            config=CatalogConfig.model_validate(state["config"]),
            vocabs={k: list(v) for k, v in state["vocabs"].items()},
            multi_fields=dict(state["multi_fields"]),
            price_edges=None if edges is None else np.asarray(edges, dtype=np.float64),
            price_mean=float(state["price_mean"]),
            price_std=float(state["price_std"]),
            specs=[(str(n), bool(lg), float(m), float(s)) for n, lg, m, s in state["specs"]],
            is_fitted=True,
        )


# ---------------------------------------------------------------------------- item features
@dataclass
class ItemFeatures:
    """A featurised catalogue: the sparse matrix plus the recipe that made it.

    Attributes
    ----------
    matrix:
        ``(n_items, n_features)`` float32 CSR; row ``i`` is ``item_idx == i`` when built from a
        dataset.
    names:
        Column names, ``"<field>=<value>"`` (``"brand=Sony"``, ``"price_band=<29.99"``).
    fields:
        Field name -> column slice of ``matrix``.
    featurizer:
        The fitted :class:`CatalogFeaturizer` (use :meth:`transform` for new catalogue rows).
    codes:
        Per single-valued field (categorical fields and ``price_band``), the code of each row.
    """

    matrix: sp.csr_matrix
    names: list[str]
    fields: dict[str, slice]
    featurizer: CatalogFeaturizer
    codes: dict[str, NDArray[np.int64]]

    @classmethod
    def from_featurizer(cls, featurizer: CatalogFeaturizer, items: pd.DataFrame) -> ItemFeatures:
        """Featurise ``items`` with an already fitted featuriser."""
        matrix = featurizer.transform(items)
        names: list[str] = []
        fields: dict[str, slice] = {}
        for name, labels in featurizer.field_names().items():
            fields[name] = slice(len(names), len(names) + len(labels))
            names += [f"{name}={label}" for label in labels]
        codes = {
            name: featurizer.codes(items, name)
            for name in featurizer.vocabs
            if name not in featurizer.multi_fields
        }
        if featurizer.price_edges is not None:
            codes[PRICE_BAND] = featurizer.codes(items, PRICE_BAND)
        return cls(matrix=matrix, names=names, fields=fields, featurizer=featurizer, codes=codes)

    # ------------------------------------------------------------------ views
    @property
    def n_items(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.matrix.shape[1])

    def vocabulary(self, field_name: str) -> list[str]:
        """Labels of a field's columns (``<other>`` first for categorical fields)."""
        labels = self.featurizer.field_names()
        if field_name not in labels:
            raise KeyError(f"unknown field {field_name!r}; known: {list(labels)}")
        return labels[field_name]

    def item_codes(self, field_name: str) -> NDArray[np.int64]:
        """Per item, the index of its value inside a single-valued field.

        ``0`` is the ``<other>`` bucket (rare, unseen or missing) for categorical fields, so the
        codes feed an embedding table of size ``len(vocabulary(field))`` directly. For
        ``price_band`` the last code is the ``missing`` band.
        """
        if field_name not in self.codes:
            raise KeyError(
                f"no codes for field {field_name!r}; single-valued fields: {list(self.codes)}"
            )
        return self.codes[field_name]

    def field_matrix(self, field_name: str) -> sp.csr_matrix:
        """The columns of one field (``n_items x len(vocabulary(field))``)."""
        if field_name not in self.fields:
            raise KeyError(f"unknown field {field_name!r}; known: {list(self.fields)}")
        return self.matrix[:, self.fields[field_name]].tocsr()

    def transform(self, items: pd.DataFrame) -> ItemFeatures:
        """Featurise new catalogue rows (cold items) with the same columns and vocabularies."""
        return ItemFeatures.from_featurizer(self.featurizer, items.reset_index(drop=True))

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """State as ``{"meta": json-able dict, "arrays": {name: ndarray}}``.

        ``meta`` holds the featuriser and the column layout, ``arrays`` the CSR parts and codes;
        :meth:`from_dict` restores an identical object without the catalogue.
        """
        m = self.matrix
        arrays: dict[str, NDArray[Any]] = {
            "data": m.data.astype(np.float32),
            "indices": m.indices.astype(np.int64),
            "indptr": m.indptr.astype(np.int64),
            "shape": np.asarray(m.shape, dtype=np.int64),
        }
        for name, code in self.codes.items():
            arrays[f"codes/{name}"] = code
        meta = {"featurizer": self.featurizer.to_dict(), "names": list(self.names)}
        return {"meta": meta, "arrays": arrays}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ItemFeatures:
        """Inverse of :meth:`to_dict`."""
        meta, arrays = state["meta"], state["arrays"]
        featurizer = CatalogFeaturizer.from_dict(meta["featurizer"])
        shape = tuple(int(x) for x in arrays["shape"])
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape, dtype=np.float32
        )
        fields: dict[str, slice] = {}
        start = 0
        for name, labels in featurizer.field_names().items():
            fields[name] = slice(start, start + len(labels))
            start += len(labels)
        codes = {
            key.split("/", 1)[1]: np.asarray(val, dtype=np.int64)
            for key, val in arrays.items()
            if key.startswith("codes/")
        }
        return cls(matrix, list(meta["names"]), fields, featurizer, codes)

    def save(self, path: str | Path) -> None:
        """Write ``features.json`` and ``features.npz`` into the folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = self.to_dict()
        (folder / "features.json").write_text(json.dumps(state["meta"]), encoding="utf-8")
        np.savez(folder / "features.npz", **state["arrays"])

    @classmethod
    def load(cls, path: str | Path) -> ItemFeatures:
        """Read what :meth:`save` wrote."""
        folder = Path(path)
        meta = json.loads((folder / "features.json").read_text(encoding="utf-8"))
        with np.load(folder / "features.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return cls.from_dict({"meta": meta, "arrays": arrays})


def build_item_features(
    source: Any,
    config: CatalogConfig | None = None,
) -> ItemFeatures:
    """Fit a :class:`CatalogFeaturizer` on a catalogue and featurise it.

    Parameters
    ----------
    source:
        A :class:`~digirec.data.dataset.Dataset` (its ``items`` table, aligned with
        ``item_idx``) or a catalogue ``DataFrame``.
    config:
        Which columns to use; defaults to :class:`CatalogConfig`.

    Returns
    -------
    ItemFeatures
        Row ``i`` describes the catalogue's row ``i`` (``item_idx == i`` for a dataset).

    Raises
    ------
    ConfigError
        The dataset has no catalogue table.
    """
    items = source if isinstance(source, pd.DataFrame) else getattr(source, "items", None)
    if items is None:
        raise ConfigError("the dataset has no item table: catalogue features need one")
    items = items.reset_index(drop=True)
    featurizer = CatalogFeaturizer(config or CatalogConfig()).fit(items)
    return ItemFeatures.from_featurizer(featurizer, items)
