"""Report._repr_html_ (the notebook view) in real headless Chromium, as tests/test_html_report.py
checks the file report: verdict, findings and block chart shown, hostile layer names inert, no
script, no request, and styles that stay inside the output cell.

Models are live Keras models from tools/make_models.py (classic_lrcn, hostile_names)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lrcn_advisor import advise  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = ("<script>alert(1)", '"><img src=x onerror=alert(2)>')
# a notebook's output area: the host page's own text must keep its own font and colour
HOST = """<!doctype html><html><head><meta charset="utf-8"><title>notebook</title>
<style>body {{ font-family: serif; color: rgb(1, 2, 3); }}</style></head>
<body><p id="host">In [1]: advise(model)</p><div class="output_html">{fragment}</div>
<p id="after">In [2]:</p></body></html>"""


@pytest.fixture(scope="module")
def fragments() -> dict:
    import make_models

    found = {}
    for name in ("classic_lrcn", "hostile_names"):
        report = advise(make_models.ARCHITECTURES[name](), fail_on="warning")
        found[name] = (report, report._repr_html_())
    return found


def attribute_names(html: str) -> set[str]:
    from html.parser import HTMLParser

    names: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            names.update(name for name, _ in attrs)

    Collect().feed(html)
    return names


def _flat(text: str) -> str:
    return " ".join(text.replace("`", "").split())


def test_fragment_is_one_div_without_script(fragments):
    for report, html in fragments.values():
        assert html.startswith('<div class="lrcn-advise-nb">') and html.rstrip().endswith("</div>")
        assert "<script" not in html.lower() and "javascript:" not in html.lower()
        assert not [a for a in attribute_names(html) if a.startswith("on")], "no event-handler attributes"
        assert "http://" not in html.replace("http://www.w3.org/", "") and "https://" not in html
    _, hostile = fragments["hostile_names"]
    assert "&lt;script&gt;alert(1)" in hostile and "<img" not in hostile


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize("name", ["classic_lrcn", "hostile_names"])
def test_notebook_view_in_chromium(browser, fragments, tmp_path, name, javascript):
    report, fragment = fragments[name]
    page_file = tmp_path / f"{name}.html"
    page_file.write_text(HOST.format(fragment=fragment), encoding="utf-8")
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    events: dict[str, list] = {"requests": [], "console": [], "dialogs": [], "errors": []}
    page.on("request", lambda r: events["requests"].append(r.url) if not r.url.startswith(("file://", "data:"))
            else None)
    page.on("console", lambda m: events["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: events["errors"].append(str(e)))
    page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))
    try:
        page.goto(page_file.as_uri(), wait_until="load")
        view = page.locator(".lrcn-advise-nb")
        assert view.count() == 1 and view.is_visible()
        verdict = _flat(page.locator(".lrcn-advise-nb .verdict").inner_text())
        gate = report.gate()
        assert verdict.startswith(("failed" if gate.failed else "passed") + " (fail-on: warning)"), verdict
        rows = page.locator(".lrcn-advise-nb table.findings tbody tr")
        assert rows.count() == len(report.findings) > 0
        table = _flat(page.locator(".lrcn-advise-nb table.findings").inner_text())
        for finding in report.findings:
            for part in (finding.rule, finding.name, finding.message, finding.fix, *finding.layers):
                assert _flat(part) in table, (finding.rule, part)
        chart = page.locator(".lrcn-advise-nb svg#chart-block-macs")
        assert chart.count() == 1 and chart.is_visible()
        assert page.locator(".lrcn-advise-nb svg#chart-block-macs g.bar, "
                            ".lrcn-advise-nb svg#chart-block-macs rect.rect").count() >= len(
            [b for b in report.blocks if b.macs])
        # the cell's styles are scoped: the notebook's own text is untouched
        for host in ("#host", "#after"):
            style = page.locator(host).evaluate("e => [getComputedStyle(e).fontFamily, getComputedStyle(e).color]")
            assert style == ["serif", "rgb(1, 2, 3)"], style
        if name == "hostile_names":
            text = _flat(view.text_content())
            assert any(h in text for h in HOSTILE), text[:400]
            assert page.locator("img").count() == 0 and page.locator("script").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"notebook-{name}-{'js' if javascript else 'nojs'}.png"), full_page=True)
        assert events == {"requests": [], "console": [], "dialogs": [], "errors": []}, events
    finally:
        context.close()
