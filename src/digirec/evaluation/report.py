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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ResultFile",
    "best_models",
    "find_result_files",
    "is_benchmark_document",
    "load_results",
    "lower_is_better",
    "render_overview",
    "render_report",
    "render_sections",
    "render_toc",
    "svg_bar_chart",
    "svg_column_chart",
    "svg_line_chart",
    "write_report",
]

#: Rating-prediction metrics (no cut-off), shown when a document has them.
RATING = ("rmse", "mae")
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
_NUMERIC = re.compile(r"^[-+]?[\d,.]*\d[\d,.]*(e[-+]?\d+)?%?( ± [\d,.]+)?$|^–$")
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
details.result-file{border:1px solid #d0d7de;border-radius:6px;margin:.8rem 0;padding:0 .8rem}
details.result-file>summary{cursor:pointer;padding:.5rem 0;font-weight:600}
details.result-file>summary h2{display:inline;font-size:1.15rem;border:0;margin:0}
.table-scroll{position:relative}main{min-width:0}pre{white-space:pre-wrap;overflow-wrap:anywhere}
svg.chart-svg{max-width:100%;height:auto}caption{text-align:left;font-weight:600}
@media (max-width:600px){body{padding:.5rem}nav.toc ul{columns:1}}
"""

# ====================================================================== language
#: The language of the text written by the renderers (``en`` or ``zh``); set with
#: :func:`language` around a render call so every helper needs no extra parameter.
_LANG: ContextVar[str] = ContextVar("digirec_report_lang", default="en")

#: Chinese versions of every fixed text of the report (keys are the English text, so an
#: English render needs no table; a missing key is caught by the web tests).
ZH: dict[str, str] = {
    "users": "用户数",
    "items": "商品数",
    "interactions": "交互数",
    "density": "密度",
    "sparsity": "稀疏度",
    "interactions per user": "人均交互数",
    "interactions per item": "每件商品交互数",
    "split: {name}": "划分：{name}",
    "protocol": "评估协议",
    "tuning metric": "调参指标",
    "tuned on validation": "在验证集上调参",
    "yes": "是",
    "no": "否",
    "Data set": "数据集",
    "Item popularity (long tail)": "商品热度（长尾）",
    "interactions per item, items sorted by popularity": "每件商品的交互数，按热度排序",
    "items, most popular first": "商品（热度从高到低）",
    "model": "模型",
    "valid {metric}": "验证 {metric}",
    "fit s": "训练秒数",
    "params": "参数",
    "From {file}; {protocol}. Best value per metric highlighted "
    "(↑ higher is better, ↓ lower is better).": "来自 {file}；{protocol}。每个指标的最佳值已高亮"
    "（↑ 越高越好，↓ 越低越好）。",
    "Benchmark (test)": "基准测试（测试集）",
    "Test metrics per model": "各模型测试指标",
    "Test metrics per model, with 95% bootstrap intervals over users": "各模型测试指标"
    "（含按用户自助法得到的 95% 区间）",
    "Beyond accuracy": "准确率以外的指标",
    "Coverage: share of the catalogue recommended to anyone. Novelty: mean self-information of "
    "recommended items. ARP: average popularity of recommended items; Gini: concentration of "
    "exposure (popularity bias).": "覆盖率：被推荐给任何人的商品占目录的比例。"
    "新颖度：推荐商品的平均自信息。ARP：推荐商品的平均热度；基尼系数：曝光的集中程度（热度偏差）。",
    "Beyond-accuracy metrics (test)": "准确率以外的指标（测试集）",
    "Brand exposure (test)": "品牌曝光（测试集）",
    "Brand exposure": "品牌曝光",
    "{name}: {key} (top brands)": "{name}：{key}（前几名品牌）",
    "Cold-start items": "冷启动商品",
    "Cold-start users": "冷启动用户",
    "Cold-start users, attributes only": "冷启动用户（仅属性）",
    "{title}: test metrics": "{title}：测试指标",
    "Learning curve": "学习曲线",
    "Learning curve: {y} by {x}": "学习曲线：{y} 随 {x} 变化",
    "{y} as {x} grows, per model": "各模型的 {y} 随 {x} 增长的变化",
    "Fit times": "训练耗时",
    "Fit time of the final model and the validation search": "最终模型与验证搜索的训练耗时",
    "final fit (s)": "最终训练（秒）",
    "settings tried": "尝试的设置数",
    "tuning fits (s)": "调参训练（秒）",
    "Fit seconds (final refit)": "训练秒数（最终重训）",
    "Fit seconds": "训练秒数",
    "seconds": "秒",
    "All test metrics": "全部测试指标",
    "Not a model benchmark; shown as facts and tables.": "不是模型基准；以数据和表格展示。",
    "Raw JSON": "原始 JSON",
    "{name}: {key}": "{name}：{key}",
    "Result files": "结果文件",
    "Rating prediction (test folds)": "评分预测（测试折）",
    "Rating prediction: test error per model, mean ± standard deviation over {n} folds "
    "(lower is better)": "评分预测：各模型的测试误差，{n} 折的均值 ± 标准差（越低越好）",
    "folds": "折数",
    "{metric} (mean over folds)": "{metric}（各折均值）",
    "vs {baseline}": "相对 {baseline}",
    "better": "更好",
    "worse": "更差",
    "tie": "无显著差异",
    "Best model per data set": "各数据集的最佳模型",
    "The best model of each benchmark, chosen on the validation split (never test); its "
    "test score with the 95% bootstrap interval over users, and the paired difference with "
    "the best simple baseline.": "每个基准中在验证集上选出的最佳模型（从不用测试集选择）；"
    "给出其测试分数及按用户自助法得到的 95% 区间，以及与最佳简单基线的配对差值。",
    "best model (validation)": "最佳模型（按验证集）",
    "test score [95% interval]": "测试分数 [95% 区间]",
    "difference vs best baseline [95% interval]": "相对最佳基线的差值 [95% 区间]",
    "{value} ± {sd} (sd, {n} folds)": "{value} ± {sd}（标准差，{n} 折）",
    "Best model per data set (chosen on validation)": "各数据集的最佳模型（按验证集选择）",
    "no result files": "没有结果文件",
    "share": "比例",
    "events per minute": "每分钟事件数",
    "value": "数值",
    "(best)": "（最佳）",
    "{n} result file(s)": "{n} 个结果文件",
    "Files not read": "无法读取的文件",
    "No result files.": "没有结果文件。",
    "digirec benchmark report": "digirec 基准报告",
    "interactions per user in training": "训练中的人均交互数",
    "share of the training data": "训练数据比例",
    "train": "训练集",
    "valid": "验证集",
    "test": "测试集",
    "benchmark wall time": "基准总耗时",
    "Long tail of item popularity": "商品热度长尾",
    "most popular": "最热门",
    "least": "最冷门",
    "{n} items sorted by popularity; the top 20% of items hold {share} of the interactions": (
        "{n} 件商品按热度排序；前 20% 的商品占 {share} 的交互"
    ),
    "lower is better": "越低越好",
    "higher is better": "越高越好",
    "{metric}{note} ({better})": "{metric}{note}（{better}）",
    " ({title})": "（{title}）",
    "cold-start items": "冷启动商品",
    "cold-start users": "冷启动用户",
    "cold-start users, attributes only": "冷启动用户（仅属性）",
}


def _t(text: str, **fields: Any) -> str:
    """``text`` in the current report language (:data:`ZH` for Chinese), formatted."""
    if _LANG.get() == "zh":
        text = ZH.get(text, text)
    return text.format(**fields) if fields else text


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Render report text in ``lang`` (``en`` or ``zh``) inside the ``with`` block."""
    token = _LANG.set("zh" if lang == "zh" else "en")
    try:
        yield
    finally:
        _LANG.reset(token)


def _colon() -> str:
    """The label colon of the current language (full-width in Chinese)."""
    return "：" if _LANG.get() == "zh" else ": "


_ABS_PATH = re.compile(r"^(?:/|[A-Za-z]:[\\/]|~/)")


def _scrub_paths(value: Any) -> Any:
    """A copy of a document with absolute filesystem paths cut to their last part: the report
    and the dashboard are shown to visitors, and the server's folders are no business of theirs.
    """
    if isinstance(value, Mapping):
        return {k: _scrub_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_paths(v) for v in value]
    if isinstance(value, str) and _ABS_PATH.match(value):
        return Path(value.replace("\\", "/")).name or "…"
    return value


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
        f'<desc id="{chart_id}-d" translate="no">{_esc(desc)}</desc>'
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
    unit: str | None = None,
) -> str:
    """A horizontal bar chart (one bar per label) as an SVG string.

    Missing values are drawn as "–" without a bar. With ``highlight_best`` the best bar (by
    :func:`lower_is_better` of ``metric``) is darker and its value bold, so the winner is visible
    without reading numbers. ``percent`` writes values as percentages (shares). Below the bars
    a numeric axis (0, half and the largest value) carries ``unit`` as its title (default: the
    metric, else "value"), so a bar's length reads as a number without hovering.
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
    axis_h = 34
    height = top + len(labels) * (bar_h + gap) + 4 + axis_h
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
            f' translate="no"{weight}>{_esc(label)}</text>'
        )
        if value is not None:
            bar_w = max(1.0, plot_w * abs(value) / span)
            fill = BEST_COLOUR if is_best else colour
            parts.append(
                f'<rect class="bar" x="{label_w}" y="{y}" width="{bar_w:.1f}" height="{bar_h}" '
                f'fill="{fill}" rx="2"><title>{_esc(label)}{_colon()}{show(value)}</title></rect>'
            )
            text_x = label_w + bar_w + 4
        else:
            text_x = label_w + 4
        parts.append(
            f'<text x="{text_x:.1f}" y="{y + bar_h - 5}" {_FONT}{weight}>'
            f"{show(value)}{' ★' if is_best else ''}</text>"
        )
    axis_y = height - axis_h + 2
    parts.append(
        f'<line class="axis" x1="{label_w}" y1="{axis_y}" x2="{label_w + plot_w}" y2="{axis_y}" '
        f'stroke="#8c959f"/>'
    )
    for frac in (0.0, 0.5, 1.0):
        x = label_w + plot_w * frac
        tick = f"{span * frac:.0%}" if percent else _fmt(span * frac, 3)
        parts.append(
            f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#8c959f"/>'
            f'<text class="tick" x="{x:.1f}" y="{axis_y + 15}" text-anchor="middle" {_FONT}>'
            f"{tick}</text>"
        )
    axis_title = unit or metric or _t("value")
    parts.append(
        f'<text class="axis-title" x="{label_w + plot_w / 2:.0f}" y="{height - 3}" '
        f'text-anchor="middle" {_FONT}>{_esc(axis_title)}</text>'
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
    x_label: str = "",
    width: int = 560,
    height: int = 180,
    colour: str = BAR_COLOUR,
    summary: str | None = None,
) -> str:
    """Vertical columns for a series (events per minute, sorted item popularity ...).

    ``x_labels`` maps a column index to a tick label (only those are written); ``x_label`` and
    ``y_label`` are the axis titles (units). ``summary`` replaces the value list in the
    accessible description when the series is long.
    """
    left, top, right = 58 if y_label else 44, 10, 8
    bottom = 40 if x_label else 22
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
            f'<text class="axis-title" x="12" y="{top + plot_h / 2:.0f}" {_FONT} '
            f'text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2:.0f})">'
            f"{_esc(y_label)}</text>"
        )
    if x_label:
        parts.append(
            f'<text class="axis-title" x="{left + plot_w / 2:.0f}" y="{height - 4}" '
            f'text-anchor="middle" {_FONT}>{_esc(x_label)}</text>'
        )
    for i, value in enumerate(values):
        number = _number(value) or 0.0
        h = plot_h * number / peak
        x = left + i * step
        parts.append(
            f'<rect class="bar" x="{x + step * 0.1:.2f}" y="{top + plot_h - h:.2f}" '
            f'width="{max(0.5, step * 0.8):.2f}" height="{h:.2f}" fill="{colour}"/>'
        )
    tick_y = top + plot_h + 15
    for i, label in (x_labels or {}).items():
        x = left + (i + 0.5) * step
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{tick_y}" text-anchor="middle" {_FONT}>'
            f"{_esc(label)}</text>"
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
    # Wide left / bottom margins: the rotated y title and the x title never touch tick labels.
    left, bottom, top, right = 70, 44, 10, 120
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
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{_fmt(yv, 3)}</text>"
        )
    # x ticks sit on the measured x values (a learning curve has a handful of points), so each
    # tick lines up with its markers; many points fall back to the ends and the middle.
    distinct = sorted({x for x, _ in points})
    x_ticks = distinct if 1 <= len(distinct) <= 8 else [x0, (x0 + x1) / 2, x1]
    last_end = -1e9
    for xv in x_ticks:
        label = _fmt(xv, 2)
        x = sx(xv)
        half = _text_width(label) / 2
        if x - half < last_end + 4:  # keep neighbouring tick labels apart
            continue
        last_end = x + half
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" '
            f'stroke="#8c959f"/><text class="tick" x="{x:.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle" {_FONT}>{label}</text>'
        )
    if x_label:
        parts.append(
            f'<text class="axis-title" x="{left + plot_w / 2:.0f}" y="{height - 6}" '
            f'text-anchor="middle" {_FONT}>{_esc(x_label)}</text>'
        )
    if y_label:
        mid = top + plot_h / 2
        parts.append(
            f'<text class="axis-title" x="14" y="{mid:.0f}" text-anchor="middle" {_FONT} '
            f'transform="rotate(-90 14 {mid:.0f})">{_esc(y_label)}</text>'
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
                f"<title>{_esc(name)}{_colon()}{_fmt(x, 3)} → {_fmt(y, 4)}</title></circle>"
            )
        ly = top + 12 + n * 16
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 9}" width="10" height="10" '
            f'fill="{colour}"/><text x="{left + plot_w + 24}" y="{ly}" {_FONT} translate="no">'
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
        if ("@" in m or m in RATING) and _number(v) is not None
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
                cells.append(f'<th scope="row" translate="no">{text}</th>')
            elif (r, c) in best_cells:
                cells.append(
                    f'<td class="best">{text}<span class="sr-only"> {_t("(best)")}</span></td>'
                )
            else:
                # Numbers align right (tabular); text such as parameters aligns left.
                plain = html.unescape(cell.split("<br>")[0]) if c in raw_columns else cell
                numeric = _NUMERIC.match(plain) is not None
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
    intervals: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Models x metrics with the best value of each metric column highlighted.

    ``intervals`` (one mapping per row, ``{metric: [lo, hi]}`` as in a result's
    ``test_ci95``) adds the 95% interval under each value that has one.
    """
    rows: list[list[str]] = []
    best: set[tuple[int, int]] = set()
    for c, metric in enumerate(metrics, start=1):
        idx = _best_index([_number(m.get(metric)) for m in metric_rows], metric)
        if idx is not None:
            best.add((idx, c))
    has_ci = intervals is not None and any(
        isinstance(ci, Mapping) and any(m in ci for m in metrics) for ci in intervals
    )
    for i, (name, values) in enumerate(zip(names, metric_rows, strict=True)):
        cells = []
        for m in metrics:
            cell = _esc(_fmt(values.get(m)))
            ci = intervals[i].get(m) if has_ci and isinstance(intervals[i], Mapping) else None  # type: ignore[index]
            if _interval(ci) is not None:
                cell += f'<br><small class="ci">{_esc(_interval_text(ci))}</small>'
            cells.append(cell)
        row = [_esc(name), *cells]
        if extra_cells:
            row.extend(
                _esc(c) if _NUMERIC.match(c) else f'<span translate="no">{_esc(c)}</span>'
                for c in extra_cells[i]
            )
        rows.append(row)
    header = [_t("model"), *(f"{m} {'↓' if lower_is_better(m) else '↑'}" for m in metrics)]
    every = frozenset(range(len(header) + len(extra_header)))
    return _table(caption, [*header, *extra_header], rows, best, raw_columns=every)


def _interval(value: Any) -> tuple[float, float] | None:
    """``(lo, hi)`` of an interval given as ``[lo, hi]``, or ``None``."""
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = _number(value[0]), _number(value[1])
        if lo is not None and hi is not None:
            return lo, hi
    return None


def _interval_text(value: Any) -> str:
    bounds = _interval(value)
    if bounds is None:
        return ""
    return f"[{_fmt(bounds[0])}, {_fmt(bounds[1])}]"


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
    # Counts the file does not have are left out, not shown as "–".
    stats: list[tuple[str, str]] = [
        (_t(label), _fmt(value, 0))
        for label, value in (("users", n_users), ("items", n_items), ("interactions", n_inter))
        if value is not None
    ]
    if n_users and n_items and n_inter is not None:
        density = n_inter / (n_users * n_items)
        stats += [
            (_t("density"), f"{density:.4%}"),
            (_t("sparsity"), f"{1 - density:.4%}"),
            (_t("interactions per user"), f"{n_inter / n_users:.2f}"),
            (_t("interactions per item"), f"{n_inter / n_items:.2f}"),
        ]
    split = doc.get("split")
    if isinstance(split, Mapping):
        stats += [
            (_t("split: {name}", name=_t(k.removeprefix("n_"))), _fmt(v, 0))
            for k, v in split.items()
            if _number(v) is not None
        ]
    folds = ds.get("folds")
    if isinstance(folds, list) and folds:
        stats.append((_t("folds"), str(len(folds))))
    for key, label in (("protocol", "protocol"), ("tuning_metric", "tuning metric")):
        if doc.get(key) is not None:
            stats.append((_t(label), str(doc[key])))
    if doc.get("tuned") is not None:
        stats.append((_t("tuned on validation"), _t("yes") if doc.get("tuned") else _t("no")))
    if _number(doc.get("wall_seconds")) is not None:
        stats.append(
            (_t("benchmark wall time"), f"{float(doc['wall_seconds']):,.0f} {_t('seconds')}")
        )
    items = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in stats)
    out = [f'<h3>{_t("Data set")}</h3><dl class="stats">{items}</dl>']
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
    summary = _t(
        "{n} items sorted by popularity; the top 20% of items hold {share} of the interactions",
        n=f"{len(ordered):,}",
        share=f"{head_share:.1%}",
    )
    # Numeric x ticks: the popularity rank of the item at the first, middle and last column.
    ticks = {
        0: "1",
        n_cols // 2: f"{int(n_cols // 2 * bucket) + 1:,}",
        n_cols - 1: f"{len(ordered):,}",
    }
    svg = svg_column_chart(
        _t("Long tail of item popularity"),
        cols,
        chart_id=cid,
        x_labels=ticks,
        y_label=_t("interactions"),
        x_label=_t("items, most popular first"),
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
        better = _t("lower is better") if lower_is_better(metric) else _t("higher is better")
        chart_id = f"{cid}-{_slug(metric)}"
        svg = svg_bar_chart(f"{metric}{note}", names, values, chart_id=chart_id, metric=metric)
        figures.append(
            _figure(svg, _t("{metric}{note} ({better})", metric=metric, note=note, better=better))
        )
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
    shown = _t(title)
    table = _metric_table(
        _t("{title}: test metrics", title=shown),
        names,
        metric_rows,
        metrics,
        [_t("users")],
        [[c] for c in counts],
        intervals=[row.get("ci95") or row.get("test_ci95") or {} for row in metric_rows],
    )
    charts = _bar_group(
        names,
        metric_rows,
        [m for m in ("ndcg@10", "recall@10") if m in metrics],
        f"{cid}-{key}",
        _t(" ({title})", title=_t(title.lower())),
    )
    return f"<h3>{_esc(shown)}</h3>{table}{charts}"


#: Readable axis titles for the x keys of learning curves.
_X_TITLES = {
    "interactions_per_user": "interactions per user in training",
    "fraction": "share of the training data",
    "train_fraction": "share of the training data",
}


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
    x_title = _t(_X_TITLES.get(x_key, x_key))
    svg = svg_line_chart(
        _t("Learning curve: {y} by {x}", y=y_key, x=x_title),
        series,
        chart_id=f"{cid}-curve",
        x_label=x_title,
        y_label=y_key,
    )
    return f"<h3>{_t('Learning curve')}</h3>" + _figure(
        svg, _t("{y} as {x} grows, per model", y=y_key, x=x_title)
    )


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
        out.append(_metric_table(_t("Brand exposure (test)"), names, metric_rows, metrics))
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
                    _t("{name}: {key}", name=name, key=key),
                    [b for b, _ in shares],
                    [v for _, v in shares],
                    chart_id=f"{cid}-{_slug(name)}-{_slug(key)}",
                    highlight_best=False,
                    percent=all(0 <= float(v) <= 1 for _, v in shares),
                    unit=_t("share"),
                )
                out.append(_figure(svg, _t("{name}: {key} (top brands)", name=name, key=key)))
    return f"<h3>{_t('Brand exposure')}</h3>" + "".join(out) if out else ""


def _n_settings(r: Mapping[str, Any]) -> int | None:
    """How many settings the validation search tried: the ``tuning`` trials, else the size of
    the ``grid`` (rating folds record the grid, not the trials)."""
    trials = r.get("tuning")
    if isinstance(trials, list) and trials:
        return len(trials)
    grid = r.get("grid")
    if isinstance(grid, Mapping) and grid:
        return math.prod(len(v) if isinstance(v, list) else 1 for v in grid.values())
    return None  # not recorded: shown as "–", never as a made-up 0


def _fit_section(names: Sequence[str], results: Sequence[Mapping[str, Any]], cid: str) -> str:
    fits = [_number(r.get("fit_seconds")) for r in results]
    if all(f is None for f in fits):
        return ""
    rows = []
    for name, r, fit in zip(names, results, fits, strict=True):
        trials = r.get("tuning") if isinstance(r.get("tuning"), list) else []
        assert isinstance(trials, list)
        tuning_s = _number(r.get("tuning_seconds", r.get("tune_seconds")))
        if tuning_s is None:
            tuning_s = sum(
                _number(t.get("fit_seconds")) or 0.0 for t in trials if isinstance(t, Mapping)
            )
        n_settings = _n_settings(r)
        rows.append(
            [name, _fmt(fit, 2), "–" if n_settings is None else str(n_settings), _fmt(tuning_s, 1)]
        )
    table = _table(
        _t("Fit time of the final model and the validation search"),
        [_t("model"), _t("final fit (s)"), _t("settings tried"), _t("tuning fits (s)")],
        rows,
    )
    svg = svg_bar_chart(
        _t("Fit seconds (final refit)"),
        names,
        fits,
        chart_id=f"{cid}-fit",
        metric="fit_seconds",
        digits=2,
        highlight_best=False,
        unit=_t("seconds"),
    )
    return (
        f"<h3>{_t('Fit times')}</h3>"
        + table
        + f'<div class="charts">{_figure(svg, _t("Fit seconds"))}</div>'
    )


def _rating_rows(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        r for r in results if any(_number(r.get("test", {}).get(m)) is not None for m in RATING)
    ]


def _fold_mean(r: Mapping[str, Any], key: str) -> float | None:
    folds = r.get("folds")
    if not isinstance(folds, list):
        return None
    values = [_number(f.get(key)) for f in folds if isinstance(f, Mapping)]
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _rating_section(results: Sequence[Mapping[str, Any]], cid: str) -> str:
    """RMSE / MAE of rating models: mean ± standard deviation over the test folds."""
    rated = _rating_rows(results)
    if not rated:
        return ""
    names = [str(r.get("model")) for r in rated]
    n_folds = max((len(r["folds"]) for r in rated if isinstance(r.get("folds"), list)), default=0)
    rows: list[list[str]] = []
    best: set[tuple[int, int]] = set()
    for c, metric in enumerate(RATING, start=1):
        idx = _best_index([_number(r["test"].get(metric)) for r in rated], metric)
        if idx is not None:
            best.add((idx, c))
    for name, r in zip(names, rated, strict=True):
        test = r["test"]
        cells = [name]
        for metric in RATING:
            value, sd = _number(test.get(metric)), _number(test.get(f"{metric}_std"))
            cells.append(f"{_fmt(value)} ± {_fmt(sd)}" if sd is not None else _fmt(value))
        cells.append(_fmt(_fold_mean(r, "valid_rmse")))
        rows.append(cells)
    header = [_t("model"), "rmse ↓", "mae ↓", _t("valid {metric}", metric="rmse")]
    caption = _t(
        "Rating prediction: test error per model, mean ± standard deviation over {n} folds "
        "(lower is better)",
        n=n_folds or "?",
    )
    table = _table(caption, header, rows, best)
    charts = _bar_group(names, [r["test"] for r in rated], list(RATING), f"{cid}-rating")
    return f"<h3>{_t('Rating prediction (test folds)')}</h3>{table}{charts}"


def _file_title(file: ResultFile) -> str:
    ds = file.document.get("dataset")
    name = ds.get("name") if isinstance(ds, Mapping) and file.is_benchmark else None
    protocol = file.document.get("protocol") if file.is_benchmark else None
    if name and protocol:
        return f"{name} · {protocol}"
    return str(name or file.name)


def _section_titles(files: Sequence[ResultFile]) -> dict[str, str]:
    """A unique title per file (data set and protocol; the file name where they repeat)."""
    titles = {f.name: _file_title(f) for f in files}
    counts: dict[str, int] = {}
    for title in titles.values():
        counts[title] = counts.get(title, 0) + 1
    return {
        name: title if counts[title] == 1 else f"{title} ({name})" for name, title in titles.items()
    }


def _headline(file: ResultFile) -> str:
    """The summary line of a folded file section: its best model, chosen on validation."""
    best = _best_of(file)
    if best is None:
        return ""
    return f" — {best['model']}{_colon()}{best['metric']} {_fmt(best['value'])}"


def _benchmark_section(file: ResultFile, level: int, title: str, is_open: bool) -> str:
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
        m
        for m in metrics
        if _family(m) not in (*ACCURACY, *BEYOND, *RATING)
        and not m.startswith("brand")
        and not m.endswith("_std")
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
    h, h3 = f"h{level}", f"h{level + 1}"
    protocol = str(doc.get("protocol", "unknown protocol"))
    parts = [
        f'<details class="result-file" id="{cid}"{" open" if is_open else ""}>'
        f'<summary><{h} id="{cid}-h">{_esc(title)}</{h}>'
        f'<span class="headline">{_esc(_headline(file))}</span></summary>'
        f'<section class="result" aria-labelledby="{cid}-h">',
        '<p class="note">'
        + _t(
            "From {file}; {protocol}. Best value per metric highlighted "
            "(↑ higher is better, ↓ lower is better).",
            file=f"<code>{_esc(file.name)}.json</code>",
            protocol=_esc(protocol),
        )
        + "</p>",
        _dataset_section(file, cid),
    ]
    rating = _rating_section(results, cid)
    ranked = main or accuracy
    if ranked:
        intervals = [r.get("test_ci95") or {} for r in results]
        has_ci = any(intervals)
        caption = (
            _t("Test metrics per model, with 95% bootstrap intervals over users")
            if has_ci
            else _t("Test metrics per model")
        )
        extra_header = [_t("valid {metric}", metric=tuning_metric), _t("fit s"), _t("params")]
        parts += [
            f"<{h3}>{_t('Benchmark (test)')}</{h3}>",
            _metric_table(caption, names, tests, ranked, extra_header, extra_cells, intervals),
            _baseline_table(results),
            _bar_group(
                names,
                tests,
                [m for m in ("ndcg@10", "recall@10", "ndcg@20", "recall@20") if m in metrics],
                f"{cid}-acc",
            ),
        ]
    parts.append(rating)
    if beyond:
        parts += [
            f"<{h3}>{_t('Beyond accuracy')}</{h3}>",
            '<p class="note">'
            + _t(
                "Coverage: share of the catalogue recommended to anyone. Novelty: mean "
                "self-information of recommended items. ARP: average popularity of recommended "
                "items; Gini: concentration of exposure (popularity bias)."
            )
            + "</p>",
            _metric_table(_t("Beyond-accuracy metrics (test)"), names, tests, beyond_main),
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
    all_metrics = [*accuracy, *[m for m in RATING if m in metrics], *beyond, *other]
    parts.append(
        f"<details><summary>{_t('All test metrics')}</summary>"
        + _metric_table(_t("All test metrics"), names, tests, all_metrics)
        + "</details></section></details>"
    )
    return "".join(parts)


def _baseline_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Each model's paired difference with the best simple baseline (``vs_best_baseline``)."""
    rows = []
    baseline = None
    for r in results:
        vs = r.get("vs_best_baseline")
        if not isinstance(vs, Mapping):
            continue
        baseline = baseline or vs.get("baseline")
        entry = vs.get("ndcg@10")
        if not isinstance(entry, Mapping):
            continue
        ci = entry.get("ci95")
        verdict = _verdict(ci)
        rows.append(
            [
                str(r.get("model")),
                f"{_signed(entry.get('diff'))} {_interval_text(ci)}",
                _t(verdict) if verdict else "–",
            ]
        )
    if not rows:
        return ""
    return _table(
        _t("difference vs best baseline [95% interval]") + f" ({baseline}, ndcg@10)",
        [_t("model"), "Δ ndcg@10", _t("vs {baseline}", baseline=baseline)],
        rows,
    )


def _signed(value: Any) -> str:
    number = _number(value)
    if number is None:
        return "–"
    return ("+" if number > 0 else "") + _fmt(number)


def _verdict(ci: Any) -> str | None:
    bounds = _interval(ci)
    if bounds is None:
        return None
    if bounds[0] > 0:
        return "better"
    if bounds[1] < 0:
        return "worse"
    return "tie"


def _generic_section(file: ResultFile, level: int, title: str, is_open: bool) -> str:
    """A file of another shape (speed or latency benchmarks ...): its scalar facts, one table
    per list of records (``results``, ``phases`` ...) and the raw JSON folded away."""
    doc = file.document
    h = f"h{level}"
    parts = [
        f'<details class="result-file other" id="{file.anchor}"{" open" if is_open else ""}>'
        f'<summary><{h} id="{file.anchor}-h">{_esc(title)}</{h}></summary>'
        f'<section class="result other" aria-labelledby="{file.anchor}-h">'
        f'<p class="note">{_t("Not a model benchmark; shown as facts and tables.")}</p>'
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
        parts.append(f'<dl class="stats" translate="no">{items}</dl>')
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
        parts.append(
            '<div translate="no">'
            + _table(_t("{name}: {key}", name=file.name, key=key), columns, rows)
            + "</div>"
        )
    pretty = _esc(json.dumps(doc, indent=1)[:20_000])
    parts.append(
        f'<details><summary>{_t("Raw JSON")}</summary><pre translate="no">{pretty}</pre></details>'
        "</section></details>"
    )
    return "".join(parts)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if _number(value) is not None:
        return _fmt(value, 3)
    return str(value)


def _shown(files: Sequence[ResultFile]) -> list[ResultFile]:
    """The files as displayed: benchmarks first, absolute paths removed from every document."""
    ordered = [f for f in files if f.is_benchmark] + [f for f in files if not f.is_benchmark]
    return [ResultFile(f.name, _scrub_paths(f.document), None) for f in ordered]


def render_sections(
    files: Sequence[ResultFile], *, level: int = 2, lang: str = "en", is_open: bool | None = None
) -> str:
    """HTML for every result file (benchmarks first, then other files), no page chrome.

    Each file is a collapsible ``<details>`` section with a unique title (data set and
    protocol); ``is_open`` unfolds them (default: only when there is a single file).
    """
    shown = _shown(files)
    titles = _section_titles(shown)
    unfold = len(shown) == 1 if is_open is None else is_open
    with language(lang):
        return "".join(
            _benchmark_section(f, level, titles[f.name], unfold)
            if f.is_benchmark
            else _generic_section(f, level, titles[f.name], unfold)
            for f in shown
        )


def render_toc(files: Sequence[ResultFile], *, lang: str = "en") -> str:
    """A list of links to each file's section (in the order :func:`render_sections` uses)."""
    shown = _shown(files)
    titles = _section_titles(shown)
    items = [f'<li><a href="#{f.anchor}">{_esc(titles[f.name])}</a></li>' for f in shown]
    with language(lang):
        label = _t("Result files")
    return f'<nav class="toc" aria-label="{_esc(label)}"><ul>{"".join(items)}</ul></nav>'


# ====================================================================== best models
def _best_of(file: ResultFile) -> dict[str, Any] | None:
    """The best model of one benchmark file, chosen on validation (never on test).

    Ranking benchmarks: the highest validation value of the tuning metric; the test value of
    that metric with its ``test_ci95`` interval and ``vs_best_baseline`` entry. Rating folds:
    the lowest mean validation RMSE over folds; test RMSE with its standard deviation.
    """
    if not file.is_benchmark:
        return None
    doc = file.document
    if doc.get("protocol") == "learning-curve":  # a curve over data sizes, no single winner
        return None
    results = _results(doc)
    metric = str(doc.get("tuning_metric", "ndcg@10"))
    ranked: list[tuple[Mapping[str, Any], float]] = []
    for r in results:
        valid = _number(r.get("valid", {}).get(metric))
        if valid is not None:
            ranked.append((r, valid))
    if ranked:
        r, _ = max(ranked, key=lambda rv: rv[1])  # first on ties
        test_metric = metric.removeprefix("valid_")
        vs = r.get("vs_best_baseline") if isinstance(r.get("vs_best_baseline"), Mapping) else {}
        assert isinstance(vs, Mapping)
        entry = vs.get(test_metric) if isinstance(vs.get(test_metric), Mapping) else None
        return {
            "model": str(r.get("model")),
            "metric": test_metric,
            "value": _number(r.get("test", {}).get(test_metric)),
            "ci95": _interval((r.get("test_ci95") or {}).get(test_metric)),
            "baseline": vs.get("baseline"),
            "diff": _number(entry.get("diff")) if entry else None,
            "diff_ci95": _interval(entry.get("ci95")) if entry else None,
            "sd": None,
            "n_folds": None,
        }
    rated: list[tuple[Mapping[str, Any], float]] = []
    for r in _rating_rows(results):
        mean = _fold_mean(r, "valid_rmse")
        if mean is not None:
            rated.append((r, mean))
    if rated:
        r, _ = min(rated, key=lambda rv: rv[1])
        folds = r.get("folds")
        return {
            "model": str(r.get("model")),
            "metric": "rmse",
            "value": _number(r["test"].get("rmse")),
            "ci95": None,
            "baseline": None,
            "diff": None,
            "diff_ci95": None,
            "sd": _number(r["test"].get("rmse_std")),
            "n_folds": len(folds) if isinstance(folds, list) else None,
        }
    return None


def best_models(files: Sequence[ResultFile]) -> list[dict[str, Any]]:
    """The best model (chosen on validation) of every benchmark file, with its test score and
    interval: ``file, title, model, metric, value, ci95, sd, n_folds, baseline, diff, diff_ci95``.
    """
    shown = _shown(files)
    titles = _section_titles(shown)
    out = []
    for f in shown:
        best = _best_of(f)
        if best is not None:
            out.append({"file": f.name, "anchor": f.anchor, "title": titles[f.name], **best})
    return out


def render_overview(files: Sequence[ResultFile], *, lang: str = "en") -> str:
    """A table of :func:`best_models`: one row per benchmark file, linking to its section."""
    rows = best_models(files)
    with language(lang):
        if not rows:
            return f'<p class="note">{_t("no result files")}</p>'
        body = []
        for row in rows:
            value = _fmt(row["value"])
            if row["ci95"] is not None:
                value += f" {_interval_text(list(row['ci95']))}"
            elif row["sd"] is not None:
                value = _t(
                    "{value} ± {sd} (sd, {n} folds)",
                    value=value,
                    sd=_fmt(row["sd"]),
                    n=row["n_folds"],
                )
            diff = "–"
            if row["diff"] is not None:
                diff = f"{_signed(row['diff'])} {_interval_text(list(row['diff_ci95'] or []))}"
                verdict = _verdict(list(row["diff_ci95"] or []))
                if verdict:
                    diff += f" {_t(verdict)} ({row['baseline']})"
            body.append(
                f'<tr><th scope="row"><a href="#{row["anchor"]}">{_esc(row["title"])}</a></th>'
                f'<td class="text" translate="no">{_esc(row["model"])}</td>'
                f'<td class="text" translate="no">{_esc(row["metric"])}</td>'
                f"<td>{_esc(value)}</td><td>{_esc(diff)}</td></tr>"
            )
        header = "".join(
            f'<th scope="col">{_esc(h)}</th>'
            for h in (
                _t("Data set"),
                _t("best model (validation)"),
                _t("tuning metric"),
                _t("test score [95% interval]"),
                _t("difference vs best baseline [95% interval]"),
            )
        )
        return (
            f'<div class="table-scroll"><table id="best-models"><caption>'
            f"{_esc(_t('Best model per data set (chosen on validation)'))}</caption>"
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )


def render_report(
    files: Sequence[ResultFile],
    *,
    title: str | None = None,
    problems: Sequence[str] = (),
    lang: str = "en",
) -> str:
    """A complete, self-contained HTML page (inline CSS and SVG; no script, no external URL)."""
    from digirec import __version__

    with language(lang):
        title = title or _t("digirec benchmark report")
        notes = "".join(f"<li>{_esc(p)}</li>" for p in problems)
        problem_html = (
            f'<h2>{_t("Files not read")}</h2><ul class="note">{notes}</ul>' if notes else ""
        )
        count = _t("{n} result file(s)", n=len(files))
        empty = f"<p>{_t('No result files.')}</p>"
        best_title = _t("Best model per data set")
    body = render_sections(files, lang=lang) if files else empty
    overview = (
        f"<h2>{_esc(best_title)}</h2>{render_overview(files, lang=lang)}"
        if any(f.is_benchmark for f in files)
        else ""
    )
    toc = render_toc(files, lang=lang) if len(files) > 1 else ""
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{REPORT_CSS}"
        ".sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;"
        "clip:rect(0 0 0 0);white-space:nowrap;border:0}"
        "</style></head><body>"
        f'<header><h1>{_esc(title)}</h1><p class="note">digirec {_esc(__version__)} · '
        f"{_esc(count)}</p>{toc}</header>"
        f"<main>{overview}{body}{problem_html}</main></body></html>\n"
    )


def write_report(
    paths: Sequence[Path], out: Path, *, title: str | None = None, lang: str = "en"
) -> tuple[Path, list[str]]:
    """Render ``paths`` into one HTML file at ``out``; returns the path and read problems."""
    files, problems = load_results(paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        render_report(files, title=title, problems=problems, lang=lang), encoding="utf-8"
    )
    return out, problems
