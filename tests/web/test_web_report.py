"""The static benchmark report (``digirec report``) and its SVG charts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner
from web_helpers import benchmark_document, parse

from digirec.cli import app
from digirec.evaluation.report import (
    ResultFile,
    load_results,
    lower_is_better,
    render_report,
    render_sections,
    svg_bar_chart,
    svg_line_chart,
    write_report,
)

REPO_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _external_refs(html: str) -> list[str]:
    """URLs the page would fetch (src / href / CSS url); the SVG namespace is not fetched."""
    elements = parse(html)
    refs = [
        str(attrs.get(attr))
        for tag, attrs in elements.tags
        for attr in ("src", "href")
        if attrs.get(attr) and tag != "svg"
    ]
    refs += re.findall(r"url\(([^)]*)\)", html)
    return [r for r in refs if not r.startswith("#")]


def test_report_command_writes_a_self_contained_file(tmp_path: Path) -> None:
    first = tmp_path / "shop.json"
    first.write_text(json.dumps(benchmark_document()))
    second_doc = benchmark_document()
    second_doc["dataset"]["name"] = "second-data-set"
    second = tmp_path / "second.json"
    second.write_text(json.dumps(second_doc))
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(
        app, ["report", "--results", str(first), "--results", str(second), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "web-test-shop" in html and "second-data-set" in html
    assert "<script" not in html  # no JavaScript at all
    assert _external_refs(html) == []  # nothing is fetched: it opens offline
    assert "<style>" in html
    assert html.count("<svg") >= 20
    assert 'href="#r-shop"' in html and 'id="r-shop"' in html  # table of contents


def test_report_command_takes_a_folder_and_reports_missing_files(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(benchmark_document()))
    (folder / "bad.json").write_text("[1, 2")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "--results", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "skipped bad.json" in result.output
    assert "bad.json" in out.read_text()
    missing = CliRunner().invoke(app, ["report", "--results", str(tmp_path / "nope.json")])
    assert missing.exit_code != 0
    assert "no such file" in missing.output


def test_best_values_follow_the_metric_direction() -> None:
    assert lower_is_better("gini@10") and lower_is_better("arp@20")
    assert not lower_is_better("ndcg@10") and not lower_is_better("coverage@10")
    html = render_sections([ResultFile("shop", benchmark_document())])
    # ndcg@10: ease 0.05 is the best; gini@10: als 0.70 is the best (lower).
    assert '<td class="best">0.0500<span class="sr-only"> (best)</span></td>' in html
    assert '<td class="best">0.7000<span class="sr-only"> (best)</span></td>' in html
    assert '<td class="best">0.9900' not in html


def test_optional_parts_render_when_present_and_vanish_when_absent() -> None:
    full = render_sections([ResultFile("full", benchmark_document())])
    for part in ("Cold-start items", "Cold-start users", "Learning curve", "Brand exposure"):
        assert part in full
    assert "<polyline" in full  # the learning curve
    assert "the top 20% of items hold" in full  # long tail
    bare = benchmark_document()
    for result in bare["results"]:
        for key in ("cold_items", "learning_curve", "brand_share"):
            result.pop(key)
        result["test"].pop("brand_exposure@10")
    bare.pop("cold_users")
    bare["dataset"].pop("item_popularity")
    plain = render_sections([ResultFile("bare", bare)])
    for part in ("Cold-start", "Learning curve", "Brand exposure", "long tail"):
        assert part not in plain
    assert "Beyond accuracy" in plain and "Fit times" in plain


def test_document_level_slices_and_curves() -> None:
    doc = benchmark_document()
    for result in doc["results"]:
        result.pop("cold_items")
        result.pop("learning_curve")
    doc["cold_items"] = [{"model": "ease", "test": {"ndcg@10": 0.3, "recall@10": 0.4}}]
    doc["learning_curve"] = {"ease": [{"n_interactions": 100, "valid": {"ndcg@10": 0.1}}]}
    html = render_sections([ResultFile("doc", doc)])
    assert "Cold-start items" in html and "0.3000" in html
    assert "Learning curve: ndcg@10 by n_interactions" in html


def test_repository_results_render() -> None:
    paths = sorted(REPO_RESULTS.glob("*.json"))
    files, problems = load_results(paths)
    assert problems == []
    html = render_report(files)
    assert html.count("<section") == len(files)
    assert "</html>" in html


def test_charts_are_accessible_svg() -> None:
    svg = svg_bar_chart("ndcg@10", ["a", "b<script>"], [0.1, None], chart_id="c1")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert 'role="img"' in svg and 'aria-labelledby="c1-t c1-d"' in svg
    assert '<title id="c1-t">ndcg@10</title>' in svg
    assert "b&lt;script&gt;" in svg and "<script>" not in svg  # labels are escaped
    assert "–" in svg  # a missing value is shown, not drawn
    line = svg_line_chart("curve", {"m": [(0.0, 1.0), (1.0, 2.0)]}, chart_id="c2")
    assert "<polyline" in line and "<desc" in line


def test_write_report_keeps_going_on_unreadable_files(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(benchmark_document()))
    text = tmp_path / "list.json"
    text.write_text("[1, 2, 3]")
    out, problems = write_report([good, text], tmp_path / "r.html")
    assert problems == ["list.json: not a JSON object"]
    assert "web-test-shop" in out.read_text()


def test_report_command_writes_the_chinese_report_and_refuses_other_languages(
    tmp_path: Path,
) -> None:
    source = tmp_path / "shop.json"
    source.write_text(json.dumps(benchmark_document()))
    out = tmp_path / "report-zh.html"
    result = CliRunner().invoke(
        app, ["report", "--results", str(source), "--out", str(out), "--lang", "zh"]
    )
    assert result.exit_code == 0, result.output
    zh = out.read_text(encoding="utf-8")
    en = render_report(load_results([source])[0])
    assert zh != en and 'lang="zh' in zh
    bad = CliRunner().invoke(app, ["report", "--results", str(source), "--lang", "fr"])
    assert bad.exit_code == 2 and "en or zh" in bad.output
