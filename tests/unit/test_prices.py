"""One price rule (issue 12): :func:`digirec.data.schema.coerce_prices` turns any price column into
float64 with NaN for a missing or invalid price, and no other module coerces prices itself."""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import digirec
from digirec import columns as C
from digirec.data.schema import coerce_prices, parse_price_column
from digirec.features.catalog import CatalogFeaturizer
from digirec.serving.engine.catalogue import Catalogue
from digirec.store import open_store

PACKAGE = Path(digirec.__file__).resolve().parent
NAN = float("nan")

# (cell, price by the rule), written by hand.
CASES: list[tuple[object, float]] = [
    (12.99, 12.99),
    (0, 0.0),
    (7, 7.0),
    (np.int64(3), 3.0),
    (np.float32(2.5), 2.5),
    (Decimal("19.90"), 19.9),
    ("12.99", 12.99),
    (" 12.99 ", 12.99),
    ("$12.99", 12.99),
    ("£1,299.00", 1299.0),
    ("USD 5", 5.0),
    ("$7.99 - $29.99", 7.99),  # a range: the low end
    ("1e3", 1000.0),
    (None, NAN),
    (NAN, NAN),
    (pd.NA, NAN),
    ("", NAN),
    ("n/a", NAN),
    ("None", NAN),
    ("cheap", NAN),
    ("12,99", NAN),  # ambiguous decimal comma: not guessed
    ("-3", NAN),
    (-3.0, NAN),  # a negative price is no price
    (float("inf"), NAN),
    ("inf", NAN),
    (True, NAN),  # booleans are no prices (``price: false`` is not 0.0)
    (False, NAN),
    (np.True_, NAN),
]


def _check(got: np.ndarray, expected: list[float]) -> None:
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.array(expected, dtype=np.float64), rtol=1e-12)


def test_coerce_prices_hand_written_cases_one_column() -> None:
    cells = [cell for cell, _ in CASES]
    expected = [price for _, price in CASES]
    _check(coerce_prices(cells), expected)
    _check(
        coerce_prices(pd.Series(cells, dtype=object, index=range(100, 100 + len(cells)))), expected
    )
    # The validation parser agrees, and flags exactly the present-but-invalid cells.
    parsed, bad = parse_price_column(pd.Series(cells, dtype=object))
    _check(parsed.to_numpy(), expected)
    invalid = {"cheap", "12,99", "-3", "inf"}
    flagged = [
        (isinstance(c, str) and c in invalid)
        or isinstance(c, bool | np.bool_)
        or (isinstance(c, float) and (c < 0 or c == float("inf")))
        for c in cells
    ]
    assert bad.tolist() == flagged


@pytest.mark.parametrize(("cell", "expected"), CASES, ids=[repr(c) for c, _ in CASES])
def test_coerce_prices_each_cell_alone(cell: object, expected: float) -> None:
    # Alone, a cell gives its own column dtype (float, int, bool, object): the same price.
    _check(coerce_prices([cell]), [expected])


def test_coerce_prices_typed_columns() -> None:
    _check(coerce_prices(np.array([1, 2, 3])), [1.0, 2.0, 3.0])
    _check(coerce_prices(np.array([1.5, np.nan, -1.0, np.inf])), [1.5, NAN, NAN, NAN])
    _check(coerce_prices(pd.Series([True, False, None], dtype="boolean")), [NAN, NAN, NAN])
    _check(coerce_prices(pd.Series([True, False])), [NAN, NAN])
    _check(coerce_prices(pd.Series([4.0, None], dtype="Float64")), [4.0, NAN])
    _check(coerce_prices(pd.Series(["$3", None], dtype="string")), [3.0, NAN])
    _check(coerce_prices([1.0, None]), [1.0, NAN])
    _check(coerce_prices([]), [])


def test_coerce_prices_returns_a_new_array() -> None:
    values = np.array([1.0, 2.0])
    out = coerce_prices(values)
    out[0] = 99.0
    assert values[0] == 1.0


def test_every_price_reader_uses_the_rule(tmp_path: Path) -> None:
    """The catalogue filter, the feature price bands and the store all read one price."""
    frame = pd.DataFrame(
        {
            C.ITEM_ID: ["a", "b", "c", "d", "e"],
            C.PRICE: pd.Series(["$10", "1,200.50", True, "-4", None], dtype=object),
            C.CATEGORY: ["x"] * 5,
        }
    )
    expected = [10.0, 1200.5, NAN, NAN, NAN]
    cat = Catalogue(frame.copy(), n_model_items=5, positions={}, proxies=np.arange(5))
    _check(cat.prices(), expected)
    assert not cat.prices().flags.writeable  # cached, shared by every request
    # The store keeps the valid prices and no price for the rest.
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upsert_items(frame)
    stored = store.items_frame()
    assert stored is not None and stored[C.PRICE].dtype == np.float64
    _check(stored.set_index(C.ITEM_ID).loc[list(frame[C.ITEM_ID]), C.PRICE].to_numpy(), expected)
    # Featurizer: items without a valid price get the "missing" band (the last code).
    featurizer = CatalogFeaturizer().fit(frame)
    bands = featurizer.codes(frame, "price_band")
    assert featurizer.price_edges is not None
    missing = len(featurizer.price_edges) + 1
    assert bands.tolist()[2:] == [missing] * 3 and missing not in bands.tolist()[:2]


# ------------------------------------------------------------------ no second price coercion
_ALLOWED = {("data/schema.py", "parse_price_column")}


def price_coercions(source: str, module: str) -> list[str]:
    """``to_numeric(`` calls whose statement mentions a price, outside :data:`_ALLOWED`."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found: list[str] = []

    def visit(node: ast.AST, function: str, statement: ast.stmt | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.stmt):
            statement = node
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "to_numeric" and (module, function) not in _ALLOWED:
                span = statement if statement is not None else node
                # The call's own lines and its statement's first line (``frame[C.PRICE] = ...``).
                text = "\n".join(lines[span.lineno - 1 : (node.end_lineno or node.lineno)])
                if re.search("price", text, re.IGNORECASE):
                    found.append(f"{module}:{node.lineno} in {function}: {text.strip()}")
        for child in ast.iter_child_nodes(node):
            # A nested function's body is its own statement scope.
            visit(child, function, None if isinstance(node, ast.FunctionDef) else statement)

    visit(tree, "<module>", None)
    return found


def test_the_checker_finds_a_second_coercion() -> None:
    bad = (
        "import pandas as pd\n"
        "def load(frame):\n"
        "    frame[C.PRICE] = pd.to_numeric(frame[C.PRICE], errors='coerce')\n"
        "    budget = pd.to_numeric(\n        user_budget_prices, errors='coerce'\n    )\n"
        "    ok = pd.to_numeric(frame['rating'])\n"
    )
    found = price_coercions(bad, "x.py")
    assert [f.split(" in ")[0] for f in found] == ["x.py:3", "x.py:4"]
    assert len(price_coercions(bad, "data/schema.py")) == 2  # only parse_price_column may
    inside = "def parse_price_column(v):\n    return pd.to_numeric(price_text)\n"
    assert price_coercions(inside, "data/schema.py") == []
    assert price_coercions(inside, "search.py") != []


def test_no_module_coerces_prices_outside_the_rule() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50 and PACKAGE / "data" / "schema.py" in files
    found = [
        hit
        for path in files
        for hit in price_coercions(path.read_text(), path.relative_to(PACKAGE).as_posix())
    ]
    assert found == [], "use digirec.data.schema.coerce_prices:\n" + "\n".join(found)
    # And the rule itself is where the checker allows it.
    schema = (PACKAGE / "data" / "schema.py").read_text()
    assert "def parse_price_column" in schema and "def coerce_prices" in schema
