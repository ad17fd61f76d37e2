"""Benchmark reports: result JSON documents -> HTML with inline SVG charts.

One renderer serves two places: ``digirec report`` writes a self-contained HTML file (inline CSS
and SVG, no script, nothing fetched from anywhere), and the service's ``/dashboard`` embeds the
same sections in its page. Charts are drawn here as SVG strings -- no plotting library, no
JavaScript -- so a report opens anywhere, prints, and stays readable by screen readers (every
chart carries a ``<title>`` and a ``<desc>`` listing its values).

Input documents are those of :func:`digirec.evaluation.benchmark.run_benchmark`::

    {"dataset": {...}, "protocol": ..., "split": {...},
     "results": [{"model", "params", "valid": {...}, "test": {"ndcg@10": ...}, "fit_seconds",
                  "tuning": [...]}, ...]}

Optional parts are rendered when present and skipped otherwise: cold-start slices
(``cold_items`` / ``cold_users``, per result or per document), ``learning_curve`` (per result or
per document), brand exposure (any test metric or result key starting with ``brand``) and item
popularity for a long-tail plot (``item_popularity`` in the document or its ``dataset``). Files
with another shape (speed benchmarks ...) are shown as a plain table of their ``results`` rows.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ResultFile",
    "find_result_files",
    "is_benchmark_document",
    "load_results",
    "lower_is_better",
    "render_report",
    "render_sections",
    "svg_bar_chart",
    "svg_column_chart",
    "svg_line_chart",
    "write_report",
]

#: Metric families where a smaller value is better (popularity bias, error).
LOWER_IS_BETTER = frozenset({"arp", "gini", "rmse", "mae", "popularity_bias"})
#: Accuracy metrics in table order (each at every cut-off the document has).
ACCURACY = ("ndcg", "recall", "precision", "mrr", "hit_rate", "map")
#: Beyond-accuracy metrics in table order.
BEYOND = ("coverage", "novelty", "diversity", "arp", "gini")
#: The headline test metrics (DESIGN.md section 3), in table order.
TABLE_METRICS = ("ndcg@10", "recall@10", "ndcg@20", "recall@20", "mrr@20", "coverage@10")
#: Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
BAR_COLOUR = "#5b8db8"
BEST_COLOUR = "#0b5394"
_NUMERIC = re.compile(r"^[-+]?[\d,.]*\d[\d,.]*(e[-+]?\d+)?%?$|^–$")
# Interactions per user first: the learning curve's question is "how much data is enough?".
_X_KEYS = (
    "interactions_per_user",
    "fraction",
    "train_fraction",
    "share",
    "n_interactions",
    "n_train",
    "n_users",
)
_X_KEYS_MORE = ("epoch", "step", "size", "x")

#: The stylesheet of the standalone report (the dashboard uses static/site.css instead).
REPORT_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",
sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#1b1f24;background:#fff}
h1,h2,h3{line-height:1.2}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f0f3f6}
td.best{background:#dcecf9;font-weight:700}td.text{text-align:left;font-size:.85em}
.table-scroll{overflow-x:auto}.charts{display:flex;flex-wrap:wrap;gap:1rem}
figure.chart{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:.5rem;background:#fff}
figure.chart figcaption{font-weight:600;font-size:.9rem}
dl.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.4rem}
dl.stats div{border:1px solid #d0d7de;border-radius:6px;padding:.3rem .6rem}
dl.stats dt{font-size:.8rem;color:#57606a}dl.stats dd{margin:0;font-weight:600;
font-variant-numeric:tabular-nums}
.note{color:#57606a;font-size:.9rem}nav.toc ul{columns:2}
"""


# ====================================================================== loading
@dataclass(frozen=True)
class ResultFile:
    """One results document and where it came from."""

    name: str
    document: dict[str, Any]
    path: Path | None = None

    @property
    def is_benchmark(self) -> bool:
        return is_benchmark_document(self.document)

    @property
    def anchor(self) -> str:
        """An HTML id for the file's section (letters, digits and dashes only)."""
        cleaned = "".join(c if c.isalnum() else "-" for c in self.name.lower())
        return "r-" + cleaned.strip("-")


def is_benchmark_document(document: Any) -> bool:
    """True when ``document`` has the benchmark shape (``results[*].model`` and ``.test``)."""
    if not isinstance(document, Mapping):
        return False
    results = document.get("results")
    return (
        isinstance(results, list)
        and bool(results)
        and all(
            isinstance(r, Mapping) and "model" in r and isinstance(r.get("test"), Mapping)
            for r in results
        )
    )


def find_result_files(directory: Path) -> list[Path]:
    """The ``*.json`` files of a results folder, by name (missing folder: none)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if p.is_file())


def load_results(paths: Iterable[Path]) -> tuple[list[ResultFile], list[str]]:
    """Read result files; unreadable ones are reported, never fatal.

    Returns
    -------
    files, problems
        The parsed documents (in the given order) and one line per file that could not be read.
    """
    files: list[ResultFile] = []
    problems: list[str] = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{Path(path).name}: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(document, dict):
            problems.append(f"{Path(path).name}: not a JSON object")
            continue
        files.append(ResultFile(name=Path(path).stem, document=document, path=Path(path)))
    return files, problems


# ====================================================================== small helpers
def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> float | None:
    """A finite float, or ``None`` (missing, NaN, text ...)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _fmt(value: Any, digits: int = 4) -> str:
    """A number for tables and labels: ``digits`` decimals, fewer for large values, two
    significant digits for tiny ones (a 0.009 s fit is not "0.01"), "–" when missing."""
    number = _number(value)
    if number is None:
        return "–"
    size = abs(number)
    if size == 0:
        return "0"
    if size >= 1000 or (number.is_integer() and size >= 10):
        return f"{number:,.0f}"
    if size >= 100:
        return f"{number:.1f}"
    if size < 10.0 ** (-max(digits, 1)):
        return f"{number:.2g}"
    return f"{number:.{digits}f}"


def _family(metric: str) -> str:
    return metric.split("@", 1)[0]


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` (``"arp@10"`` ...) is the better one."""
    return _family(metric) in LOWER_IS_BETTER


def _best_index(values: Sequence[float | None], metric: str) -> int | None:
    """Position of the best value (first on ties), ``None`` when fewer than two are known."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return None
    pick = min if lower_is_better(metric) else max
    best = pick(v for _, v in known)
    return next(i for i, v in known if v == best)


def _metric_order(metrics: Iterable[str], families: Sequence[str]) -> list[str]:
    def key(metric: str) -> tuple[int, int, str]:
        family, _, k = metric.partition("@")
        return (
            families.index(family) if family in families else len(families),
            int(k) if k.isdigit() else 0,
            metric,
        )

    return sorted(set(metrics), key=key)


# ====================================================================== SVG charts
_FONT = 'font-family="system-ui,sans-serif" font-size="12"'


def _text_width(text: str) -> int:
    """Rough pixel width of ``text`` at 12 px: CJK characters are about twice as wide."""
    return sum(12 if ord(ch) >= 0x2E80 else 7 for ch in text)


def _svg_open(chart_id: str, title: str, desc: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{_esc(title)}</title>'
        f'<desc id="{chart_id}-d">{_esc(desc)}</desc>'
    )


def svg_bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    chart_id: str,
    metric: str = "",
    digits: int = 4,
    width: int = 330,
    highlight_best: bool = True,
    colour: str = BAR_COLOUR,
    percent: bool = False,
) -> str:
    """A horizontal bar chart (one bar per label) as an SVG string.

    Missing values are drawn as "–" without a bar. With ``highlight_best`` the best bar (by
    :func:`lower_is_better` of ``metric``) is darker and its value bold, so the winner is visible
    without reading numbers. ``percent`` writes values as percentages (shares).
    """

    def show(value: float | None) -> str:
        if percent and value is not None:
            return f"{value:.0%}"
        return _fmt(value, digits)

    numbers = [_number(v) for v in values]
    best = _best_index(numbers, metric or title) if highlight_best else None
    label_w = min(160, 12 + max((_text_width(str(lab)) for lab in labels), default=28))
    value_w = 84
    bar_h, gap, top = 18, 6, 6
    height = top + len(labels) * (bar_h + gap) + 4
    span = max((abs(v) for v in numbers if v is not None), default=0.0) or 1.0
    plot_w = max(40, width - label_w - value_w)
    desc = "; ".join(f"{lab}: {show(v)}" for lab, v in zip(labels, numbers, strict=True))
    parts = [_svg_open(chart_id, title, desc, width, height)]
    for i, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        y = top + i * (bar_h + gap)
        is_best = i == best
        weight = ' font-weight="700"' if is_best else ""
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end" {_FONT}'
            f"{weight}>{_esc(label)}</text>"
        )
        if value is not None:
            bar_w = max(1.0, plot_w * abs(value) / span)
            fill = BEST_COLOUR if is_best else colour
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{y}" width="{bar_w:.1f}" height="{bar_h}" '
                f'fill="{fill}" rx="2"><title>{_esc(label)}: {show(value)}</title></rect>'
            )
            text_x = label_w + bar_w + 4
        else:
            text_x = label_w + 4
        parts.append(
            f'<text x="{text_x:.1f}" y="{y + bar_h - 5}" {_FONT}{weight}>'
            f"{show(value)}{' ★' if is_best else ''}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_column_chart(
    title: str,
    values: Sequence[float],
    *,
    chart_id: str,
    x_labels: Mapping[int, str] | None = None,
    y_label: str = "",
    width: int = 560,
    height: int = 180,
    colour: str = BAR_COLOUR,
    summary: str | None = None,
) -> str:
    """Vertical columns for a series (events per minute, sorted item popularity ...).

    ``x_labels`` maps a column index to a tick label (only those are written). ``summary``
    replaces the value list in the accessible description when the series is long.
    """
    left, bottom, top, right = 44, 22, 10, 8
    plot_w = width - left - right
    plot_h = height - top - bottom
    peak = max((v for v in values if _number(v) is not None), default=0.0) or 1.0
    n = max(1, len(values))
    step = plot_w / n
    desc = summary or "; ".join(f"{i}: {_fmt(v, 2)}" for i, v in enumerate(values))
    parts = [_svg_open(chart_id, title, desc, width, height)]
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#8c959f"/>'
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" {_FONT}>{_fmt(peak, 0)}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {_FONT}>0</text>'
    )
    if y_label:
        parts.append(
            f'<text x="10" y="{top + plot_h / 2:.0f}" {_FONT} text-anchor="middle" '
            f'transform="rotate(-90 10 {top + plot_h / 2:.0f})">{_esc(y_label)}</text>'
        )
    for i, value in enumerate(values):
        number = _number(value) or 0.0
        h = plot_h * number / peak
        x = left + i * step
        parts.append(
            f'<rect class="bar" x="{x + step * 0.1:.2f}" y="{top + plot_h - h:.2f}" '
            f'width="{max(0.5, step * 0.8):.2f}" height="{h:.2f}" fill="{colour}"/>'
        )
    for i, label in (x_labels or {}).items():
        x = left + (i + 0.5) * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" {_FONT}>{_esc(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_line_chart(
    title: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    chart_id: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 560,
    height: int = 240,
) -> str:
    """Lines with point markers, one per named series, and a legend."""
    left, bottom, top, right = 52, 38, 10, 120
    plot_w = width - left - right
    plot_h = height - top - bottom
    points = [(x, y) for pts in series.values() for x, y in pts]
    xs = [x for x, _ in points] or [0.0, 1.0]
    ys = [y for _, y in points] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys)
    x1 = x1 if x1 > x0 else x0 + 1.0
    y1 = y1 if y1 > y0 else y0 + 1.0

    def sx(x: float) -> float:
        return left + plot_w * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        return top + plot_h * (1.0 - (y - y0) / (y1 - y0))

    desc = "; ".join(
        f"{name}: " + ", ".join(f"({_fmt(x, 3)}, {_fmt(y, 4)})" for x, y in pts)
        for name, pts in series.items()
    )
    parts = [_svg_open(chart_id, title, desc, width, height)]
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#d0d7de"/>'
    )
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        xv = x0 + frac * (x1 - x0)
        parts.append(
            f'<text x="{left - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{_fmt(yv, 3)}</text>"
            f'<text x="{sx(xv):.1f}" y="{top + plot_h + 14}" text-anchor="middle" {_FONT}>'
            f"{_fmt(xv, 2)}</text>"
        )
    if x_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle" {_FONT}>'
            f"{_esc(x_label)}</text>"
        )
    if y_label:
        mid = top + plot_h / 2
        parts.append(
            f'<text x="12" y="{mid:.0f}" text-anchor="middle" {_FONT} '
            f'transform="rotate(-90 12 {mid:.0f})">{_esc(y_label)}</text>'
        )
    for n, (name, pts) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        ordered = sorted(pts)
        if len(ordered) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ordered)
            parts.append(
                f'<polyline class="line" points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2"/>'
            )
        for x, y in ordered:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                f"<title>{_esc(name)}: {_fmt(x, 3)} → {_fmt(y, 4)}</title></circle>"
            )
        ly = top + 12 + n * 16
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 9}" width="10" height="10" '
            f'fill="{colour}"/><text x="{left + plot_w + 24}" y="{ly}" {_FONT}>'
            f"{_esc(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="chart">{svg}<figcaption>{_esc(caption)}</figcaption></figure>'


# ====================================================================== sections
def _results(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in document.get("results", []) if isinstance(r, Mapping)]


def _test_metrics(results: Sequence[Mapping[str, Any]]) -> set[str]:
    return {
        m
        for r in results
        for m, v in r.get("test", {}).items()
        if "@" in m and _number(v) is not None
    }


def _table(
    caption: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    best_cells: set[tuple[int, int]] | None = None,
    *,
    raw_columns: frozenset[int] = frozenset(),
) -> str:
    """An accessible table; ``best_cells`` ``(row, column)`` get the ``best`` class.

    Cells are escaped, except those in ``raw_columns`` (already-built HTML).
    """
    best_cells = best_cells or set()
    head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in header)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            text = cell if c in raw_columns else _esc(cell)
            if c == 0:
                cells.append(f'<th scope="row">{text}</th>')
            elif (r, c) in best_cells:
                cells.append(f'<td class="best">{text}<span class="sr-only"> (best)</span></td>')
            else:
                # Numbers align right (tabular); text such as parameters aligns left.
                numeric = _NUMERIC.match(cell) is not None or c in raw_columns
                cells.append(f"<td>{text}</td>" if numeric else f'<td class="text">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-scroll"><table><caption>{_esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _metric_table(
    caption: str,
    names: Sequence[str],
    metric_rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    extra_header: Sequence[str] = (),
    extra_cells: Sequence[Sequence[str]] = (),
) -> str:
    """Models x metrics with the best value of each metric column highlighted."""
    rows: list[list[str]] = []
    best: set[tuple[int, int]] = set()
    for c, metric in enumerate(metrics, start=1):
        idx = _best_index([_number(m.get(metric)) for m in metric_rows], metric)
        if idx is not None:
            best.add((idx, c))
    for i, (name, values) in enumerate(zip(names, metric_rows, strict=True)):
        row = [name, *(_fmt(values.get(m)) for m in metrics)]
        if extra_cells:
            row.extend(extra_cells[i])
        rows.append(row)
    header = ["model", *(f"{m} {'↓' if lower_is_better(m) else '↑'}" for m in metrics)]
    return _table(caption, [*header, *extra_header], rows, best)


def _params_text(params: Any) -> str:
    if not isinstance(params, Mapping):
        return ""
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "random_state")


def _dataset_section(file: ResultFile, cid: str) -> str:
    doc = file.document
    ds = doc.get("dataset") if isinstance(doc.get("dataset"), Mapping) else {}
    assert isinstance(ds, Mapping)
    n_users, n_items, n_inter = (
        _number(ds.get("n_users")),
        _number(ds.get("n_items")),
        _number(ds.get("n_interactions")),
    )
    stats: list[tuple[str, str]] = [
        ("users", _fmt(n_users, 0)),
        ("items", _fmt(n_items, 0)),
        ("interactions", _fmt(n_inter, 0)),
    ]
    if n_users and n_items and n_inter is not None:
        density = n_inter / (n_users * n_items)
        stats += [
            ("density", f"{density:.4%}"),
            ("sparsity", f"{1 - density:.4%}"),
            ("interactions per user", f"{n_inter / n_users:.2f}"),
            ("interactions per item", f"{n_inter / n_items:.2f}"),
        ]
    split = doc.get("split")
    if isinstance(split, Mapping):
        stats += [(f"split: {k.removeprefix('n_')}", _fmt(v, 0)) for k, v in split.items()]
    for key, label in (("protocol", "protocol"), ("tuning_metric", "tuning metric")):
        if doc.get(key) is not None:
            stats.append((label, str(doc[key])))
    if doc.get("tuned") is not None:
        stats.append(("tuned on validation", "yes" if doc.get("tuned") else "no"))
    if _number(doc.get("wall_seconds")) is not None:
        stats.append(("benchmark wall time", f"{float(doc['wall_seconds']):,.0f} s"))
    items = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in stats)
    out = [f'<h3>Data set</h3><dl class="stats">{items}</dl>']
    popularity = doc.get("item_popularity", ds.get("item_popularity"))
    counts = _popularity_counts(popularity)
    if counts:
        out.append(_long_tail(counts, f"{cid}-tail"))
    return "".join(out)


def _popularity_counts(value: Any) -> list[float]:
    """Item popularity as a list of counts (accepts a list or ``{item: count}``)."""
    if isinstance(value, Mapping):
        value = value.get("counts", list(value.values()))
    if not isinstance(value, list):
        return []
    return [n for n in (_number(v) for v in value) if n is not None and n >= 0]


def _long_tail(counts: list[float], cid: str) -> str:
    ordered = sorted(counts, reverse=True)
    total = sum(ordered) or 1.0
    head = max(1, round(0.2 * len(ordered)))
    head_share = sum(ordered[:head]) / total
    # Average buckets so a 100k-item catalogue is still ~200 columns.
    n_cols = min(200, len(ordered))
    bucket = len(ordered) / n_cols
    cols = [
        sum(ordered[int(i * bucket) : max(int((i + 1) * bucket), int(i * bucket) + 1)])
        / max(1, int((i + 1) * bucket) - int(i * bucket))
        for i in range(n_cols)
    ]
    summary = (
        f"{len(ordered)} items sorted by popularity; the top 20% of items hold "
        f"{head_share:.1%} of the interactions"
    )
    svg = svg_column_chart(
        "Long tail of item popularity",
        cols,
        chart_id=cid,
        x_labels={0: "most popular", n_cols - 1: "least"},
        y_label="interactions",
        summary=summary,
    )
    return _figure(svg, summary)


def _bar_group(
    names: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    cid: str,
    note: str = "",
) -> str:
    figures = []
    for metric in metrics:
        values = [_number(r.get(metric)) for r in rows]
        if all(v is None for v in values):
            continue
        better = "lower is better" if lower_is_better(metric) else "higher is better"
        chart_id = f"{cid}-{_slug(metric)}"
        svg = svg_bar_chart(f"{metric}{note}", names, values, chart_id=chart_id, metric=metric)
        figures.append(_figure(svg, f"{metric}{note} ({better})"))
    return f'<div class="charts">{"".join(figures)}</div>' if figures else ""


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _slice_rows(document: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Per-model metrics of a slice (``cold_items`` ...), from wherever the document has them.

    Accepted: ``results[i][key] = {metric: value}`` (optionally under ``"test"``), or
    ``document[key]`` as ``{model: metrics}``, ``[{"model", ...metrics}]`` or
    ``{"results": [...]}``.
    """

    def metrics_of(value: Any) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            return None
        inner = value.get("test")
        return inner if isinstance(inner, Mapping) else value

    rows: list[tuple[str, Mapping[str, Any]]] = []
    for r in _results(document):
        found = metrics_of(r.get(key))
        if found is not None:
            rows.append((str(r.get("model")), found))
    if rows:
        return rows
    top = document.get(key)
    if isinstance(top, Mapping) and isinstance(top.get("results"), list):
        top = top["results"]
    if isinstance(top, list):
        for entry in top:
            if isinstance(entry, Mapping) and "model" in entry:
                rows.append((str(entry["model"]), metrics_of(entry) or {}))
    elif isinstance(top, Mapping):
        for model, value in top.items():
            found = metrics_of(value)
            if found is not None:
                rows.append((str(model), found))
    return rows


def _slice_section(document: Mapping[str, Any], key: str, title: str, cid: str) -> str:
    rows = _slice_rows(document, key)
    if not rows:
        return ""
    names = [name for name, _ in rows]
    metric_rows = [m for _, m in rows]
    metrics = _metric_order(
        {m for row in metric_rows for m, v in row.items() if "@" in m and _number(v) is not None},
        (*ACCURACY, *BEYOND),
    )
    counts = [
        _fmt(row.get("n_users_evaluated", row.get("n_users", row.get("n_targets"))), 0)
        for row in metric_rows
    ]
    table = _metric_table(
        f"{title}: test metrics", names, metric_rows, metrics, ["users"], [[c] for c in counts]
    )
    charts = _bar_group(
        names,
        metric_rows,
        [m for m in ("ndcg@10", "recall@10") if m in metrics],
        f"{cid}-{key}",
        f" ({title.lower()})",
    )
    return f"<h3>{_esc(title)}</h3>{table}{charts}"


def _curve_points(points: Any) -> tuple[list[tuple[float, float]], str, str]:
    """``[(x, y)]`` of a learning curve given as a list of point dicts, with the axis keys."""
    if not isinstance(points, list):
        return [], "", ""
    dicts = [p for p in points if isinstance(p, Mapping)]
    if not dicts:
        return [], "", ""
    first = dicts[0]
    x_key = next((k for k in (*_X_KEYS, *_X_KEYS_MORE) if k in first), "")

    def flat(p: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(p)
        for nested in ("test", "valid"):
            if isinstance(p.get(nested), Mapping):
                for k, v in p[nested].items():
                    out.setdefault(k, v)
        return out

    flats = [flat(p) for p in dicts]
    y_key = next(
        (
            k
            for k in ("ndcg@10", "recall@10", "valid_ndcg@10", "test_ndcg@10", "loss")
            if k in flats[0]
        ),
        next((k for k, v in flats[0].items() if k != x_key and _number(v) is not None), ""),
    )
    if not x_key or not y_key:
        return [], "", ""
    pts = []
    for p in flats:
        x, y = _number(p.get(x_key)), _number(p.get(y_key))
        if x is not None and y is not None:
            pts.append((x, y))
    return pts, x_key, y_key


def _learning_curve_section(document: Mapping[str, Any], cid: str) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    x_key = y_key = ""
    for r in _results(document):
        pts, xk, yk = _curve_points(r.get("learning_curve"))
        if pts:
            series[str(r.get("model"))] = pts
            x_key, y_key = x_key or xk, y_key or yk
    top = document.get("learning_curve")
    if not series and isinstance(top, Mapping):
        for model, value in top.items():
            pts, xk, yk = _curve_points(value)
            if pts:
                series[str(model)] = pts
                x_key, y_key = x_key or xk, y_key or yk
    elif not series and isinstance(top, list):
        by_model: dict[str, list[Any]] = {}
        for p in top:
            if isinstance(p, Mapping):
                by_model.setdefault(str(p.get("model", "model")), []).append(p)
        for model, value in by_model.items():
            pts, xk, yk = _curve_points(value)
            if pts:
                series[model] = pts
                x_key, y_key = x_key or xk, y_key or yk
    if not series:
        return ""
    svg = svg_line_chart(
        f"Learning curve: {y_key} by {x_key}",
        series,
        chart_id=f"{cid}-curve",
        x_label=x_key,
        y_label=y_key,
    )
    return "<h3>Learning curve</h3>" + _figure(svg, f"{y_key} as {x_key} grows, per model")


def _brand_section(names: Sequence[str], results: Sequence[Mapping[str, Any]], cid: str) -> str:
    """Brand exposure: test metrics named ``brand*`` and per-result ``brand*`` mappings."""
    metric_rows = [r.get("test", {}) for r in results]
    metrics = sorted(
        {
            m
            for row in metric_rows
            for m, v in row.items()
            if m.startswith("brand") and _number(v) is not None
        }
    )
    out = []
    if metrics:
        out.append(_metric_table("Brand exposure (test)", names, metric_rows, metrics))
        out.append(_bar_group(names, metric_rows, metrics, f"{cid}-brand"))
    for name, r in zip(names, results, strict=True):
        for key, value in r.items():
            if not (key.startswith("brand") and isinstance(value, Mapping)):
                continue
            shares = sorted(
                ((str(b), v) for b, v in value.items() if _number(v) is not None),
                key=lambda bv: -float(bv[1]),
            )[:12]
            if shares:
                svg = svg_bar_chart(
                    f"{name}: {key}",
                    [b for b, _ in shares],
                    [v for _, v in shares],
                    chart_id=f"{cid}-{_slug(name)}-{_slug(key)}",
                    highlight_best=False,
                )
                out.append(_figure(svg, f"{name}: {key} (top brands)"))
    return "<h3>Brand exposure</h3>" + "".join(out) if out else ""


def _fit_section(names: Sequence[str], results: Sequence[Mapping[str, Any]], cid: str) -> str:
    fits = [_number(r.get("fit_seconds")) for r in results]
    if all(f is None for f in fits):
        return ""
    rows = []
    for name, r, fit in zip(names, results, fits, strict=True):
        trials = r.get("tuning") if isinstance(r.get("tuning"), list) else []
        assert isinstance(trials, list)
        tuning_s = sum(
            _number(t.get("fit_seconds")) or 0.0 for t in trials if isinstance(t, Mapping)
        )
        rows.append([name, _fmt(fit, 2), str(len(trials)), _fmt(tuning_s, 1)])
    table = _table(
        "Fit time of the final model and the validation search",
        ["model", "final fit (s)", "settings tried", "tuning fits (s)"],
        rows,
    )
    svg = svg_bar_chart(
        "Fit seconds (final refit)",
        names,
        fits,
        chart_id=f"{cid}-fit",
        metric="fit_seconds",
        digits=2,
        highlight_best=False,
    )
    return "<h3>Fit times</h3>" + table + f'<div class="charts">{_figure(svg, "Fit seconds")}</div>'


def _benchmark_section(file: ResultFile, level: int) -> str:
    doc = file.document
    cid = file.anchor
    results = _results(doc)
    names = [str(r.get("model")) for r in results]
    tests = [r.get("test", {}) for r in results]
    metrics = _test_metrics(results)
    accuracy = _metric_order([m for m in metrics if _family(m) in ACCURACY], ACCURACY)
    main = [m for m in TABLE_METRICS if m in metrics]
    beyond = _metric_order([m for m in metrics if _family(m) in BEYOND], BEYOND)
    # The beyond-accuracy table and charts use the smallest cut-off (all cut-offs are in
    # "All test metrics"); one column per family keeps the table readable.
    cutoffs = sorted({int(k) for m in beyond for k in [m.partition("@")[2]] if k.isdigit()})
    beyond_main = [m for m in beyond if cutoffs and m.endswith(f"@{cutoffs[0]}")] or beyond
    other = sorted(
        m for m in metrics if _family(m) not in (*ACCURACY, *BEYOND) and not m.startswith("brand")
    )
    tuning_metric = str(doc.get("tuning_metric", "ndcg@10"))
    extra_cells = [
        [
            _fmt(r.get("valid", {}).get(tuning_metric)),
            _fmt(r.get("fit_seconds"), 2),
            _params_text(r.get("params")),
        ]
        for r in results
    ]
    ds = doc.get("dataset") if isinstance(doc.get("dataset"), Mapping) else {}
    assert isinstance(ds, Mapping)
    title = str(ds.get("name") or file.name)
    h, h3 = f"h{level}", f"h{level + 1}"
    parts = [
        f'<section class="result" id="{cid}" aria-labelledby="{cid}-h">',
        f'<{h} id="{cid}-h">{_esc(title)}</{h}>',
        f'<p class="note">From <code>{_esc(file.name)}.json</code>; '
        f"{_esc(doc.get('protocol', 'unknown protocol'))}. Best value per metric highlighted "
        "(↑ higher is better, ↓ lower is better).</p>",
        _dataset_section(file, cid),
        f"<{h3}>Benchmark (test)</{h3}>",
        _metric_table(
            "Test metrics per model",
            names,
            tests,
            main or accuracy,
            [f"valid {tuning_metric}", "fit s", "params"],
            extra_cells,
        ),
        _bar_group(
            names,
            tests,
            [m for m in ("ndcg@10", "recall@10", "ndcg@20", "recall@20") if m in metrics],
            f"{cid}-acc",
        ),
    ]
    if beyond:
        parts += [
            f"<{h3}>Beyond accuracy</{h3}>",
            '<p class="note">Coverage: share of the catalogue recommended to anyone. Novelty: '
            "mean self-information of recommended items. ARP: average popularity of recommended "
            "items; Gini: concentration of exposure (popularity bias).</p>",
            _metric_table("Beyond-accuracy metrics (test)", names, tests, beyond_main),
            _bar_group(names, tests, beyond_main, f"{cid}-beyond"),
        ]
    parts.append(_brand_section(names, results, cid))
    parts.append(_slice_section(doc, "cold_items", "Cold-start items", cid))
    parts.append(_slice_section(doc, "cold_users", "Cold-start users", cid))
    parts.append(
        _slice_section(doc, "cold_users_attributes", "Cold-start users, attributes only", cid)
    )
    parts.append(_learning_curve_section(doc, cid))
    parts.append(_fit_section(names, results, cid))
    all_metrics = [*accuracy, *beyond, *other]
    parts.append(
        "<details><summary>All test metrics</summary>"
        + _metric_table("All test metrics", names, tests, all_metrics)
        + "</details></section>"
    )
    return "".join(parts)


def _generic_section(file: ResultFile, level: int) -> str:
    """A file of another shape (speed or latency benchmarks ...): its scalar facts, one table
    per list of records (``results``, ``phases`` ...) and the raw JSON folded away."""
    doc = file.document
    h = f"h{level}"
    parts = [
        f'<section class="result other" id="{file.anchor}" aria-labelledby="{file.anchor}-h">'
        f'<{h} id="{file.anchor}-h">{_esc(file.name)}</{h}>'
        '<p class="note">Not a model benchmark; shown as facts and tables.</p>'
    ]
    facts: list[tuple[str, str]] = []
    for key, value in doc.items():
        if isinstance(value, Mapping):
            facts.extend(
                (f"{key}.{sub}", _cell(v))
                for sub, v in value.items()
                if not isinstance(v, Mapping | list)
            )
        elif not isinstance(value, list):
            facts.append((str(key), _cell(value)))
    if facts:
        items = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in facts[:40])
        parts.append(f'<dl class="stats">{items}</dl>')
    for key, value in doc.items():
        rows_in = [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []
        if not rows_in:
            continue
        columns: list[str] = []
        for r in rows_in:
            columns.extend(
                k for k in r if k not in columns and not isinstance(r[k], Mapping | list)
            )
        rows = [[_cell(r.get(c)) for c in columns] for r in rows_in]
        parts.append(_table(f"{file.name}: {key}", columns, rows))
    pretty = _esc(json.dumps(doc, indent=1)[:20_000])
    parts.append(f"<details><summary>Raw JSON</summary><pre>{pretty}</pre></details></section>")
    return "".join(parts)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if _number(value) is not None:
        return _fmt(value, 3)
    return str(value)


def render_sections(files: Sequence[ResultFile], *, level: int = 2) -> str:
    """HTML for every result file (benchmarks first, then other files), no page chrome."""
    bench = [f for f in files if f.is_benchmark]
    other = [f for f in files if not f.is_benchmark]
    return "".join(
        [
            *(_benchmark_section(f, level) for f in bench),
            *(_generic_section(f, level) for f in other),
        ]
    )


def render_toc(files: Sequence[ResultFile]) -> str:
    """A list of links to each file's section (in the order :func:`render_sections` uses)."""
    items = []
    for f in sorted(files, key=lambda f: not f.is_benchmark):
        ds = f.document.get("dataset")
        name = ds.get("name") if isinstance(ds, Mapping) and f.is_benchmark else f.name
        items.append(f'<li><a href="#{f.anchor}">{_esc(name or f.name)}</a></li>')
    return f'<nav class="toc" aria-label="Result files"><ul>{"".join(items)}</ul></nav>'


def render_report(
    files: Sequence[ResultFile],
    *,
    title: str = "digirec benchmark report",
    problems: Sequence[str] = (),
) -> str:
    """A complete, self-contained HTML page (inline CSS and SVG; no script, no external URL)."""
    from digirec import __version__

    notes = "".join(f"<li>{_esc(p)}</li>" for p in problems)
    problem_html = f'<h2>Files not read</h2><ul class="note">{notes}</ul>' if notes else ""
    body = render_sections(files) if files else "<p>No result files.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{REPORT_CSS}"
        ".sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}"
        "</style></head><body>"
        f'<header><h1>{_esc(title)}</h1><p class="note">digirec {_esc(__version__)} · '
        f"{len(files)} result file(s)</p>{render_toc(files) if len(files) > 1 else ''}</header>"
        f"<main>{body}{problem_html}</main></body></html>\n"
    )


def write_report(
    paths: Sequence[Path], out: Path, *, title: str = "digirec benchmark report"
) -> tuple[Path, list[str]]:
    """Render ``paths`` into one HTML file at ``out``; returns the path and read problems."""
    files, problems = load_results(paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(files, title=title, problems=problems), encoding="utf-8")
    return out, problems
