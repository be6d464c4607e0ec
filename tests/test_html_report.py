"""The HTML report, end to end: the real CLI on real Keras files, opened in real headless Chromium.

Models come from tools/make_models.py (classic_lrcn, hostile_names with script/img layer names,
lrcn_mobilenetv2 with a 155-layer nested backbone). Browser checks are skipped, with the reason,
only when /usr/bin/chromium or the playwright package is missing. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
MODELS = ("classic_lrcn", "hostile_names", "lrcn_mobilenetv2")
HOSTILE = ("<script>alert(1)", '"><img src=x onerror=alert(2)>')
GENERATED = re.compile(r'^<p class="generated">Generated <time datetime="[^"]+">[^<]+</time></p>$')


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("SOURCE_DATE_EPOCH", None)
    return subprocess.run([sys.executable, "-m", "lrcn_advisor", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "make_models.py"), "--out", str(out),
                           "--only", ",".join(MODELS)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def reports(models, tmp_path_factory) -> dict[str, dict]:
    """name -> {html, json, text, document}: one CLI run per model writing both HTML and JSON."""
    out = tmp_path_factory.mktemp("reports")
    found = {}
    for name in MODELS:
        html, js = out / f"{name}.html", out / f"{name}.json"
        done = run_cli(str(models / f"{name}.h5"), "--probes", "off", "--exit-zero", "--html", str(html),
                       "--json", str(js), cwd=out)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"HTML report: {html}" in done.stderr
        found[name] = {"html": html, "json": js, "text": html.read_text(encoding="utf-8"),
                       "document": json.loads(js.read_text(encoding="utf-8"))}
    return found


# ---------------------------------------------------------------- the file itself

def test_default_path_and_no_html(models, tmp_path):
    model = models / "classic_lrcn.h5"
    done = run_cli(str(model), "--probes", "off", "--exit-zero", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    target = Path("lrcn-reports") / f"{model.name}.html"
    assert (tmp_path / target).is_file()
    assert f"HTML report: {target}" in done.stderr
    skipped = tmp_path / "skipped"
    skipped.mkdir()
    done = run_cli(str(model), "--probes", "off", "--exit-zero", "--no-html", cwd=skipped)
    assert done.returncode == 0, done.stderr
    assert not (skipped / "lrcn-reports").exists()
    assert "HTML report" not in done.stderr


@pytest.mark.parametrize("name", MODELS)
def test_self_contained(reports, name):
    text = reports[name]["text"]
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    lowered = text.lower()
    for needle in ("<script", "<link", "@import", "<iframe", "<object", "<embed", "src=\"http", "javascript:"):
        assert needle not in lowered, needle
    assert set(re.findall(r"url\(([^)]*)\)", text)) <= {"#arrowhead"}
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text), "random uuid"
    assert "<!--" not in text  # pygal's comments carry links and the date
    assert "Content-Security-Policy" in text


@pytest.mark.parametrize("name", MODELS)
def test_contents(reports, name):
    text, document = reports[name]["text"], reports[name]["document"]
    for section in ("verdict", "model", "findings", "architecture", "layers", "probes", "about"):
        assert f'id="{section}"' in text
    assert document["model"]["sha256"] in text
    assert f"{document['tool']['name']} {document['tool']['version']}" in text
    assert "--probes on" in text  # probes did not run: say how to force them
    assert text.count('<svg class="diagram"') == 1
    assert 'id="chart-block-macs"' in text and 'id="chart-block-params"' in text
    assert 'id="chart-feature-maps"' in text
    for finding in document["findings"]:
        assert f'id="f-{finding["fingerprint"]}"' in text


def test_hostile_names_escaped(reports):
    text = reports["hostile_names"]["text"]
    assert "<img" not in text
    assert "&lt;script&gt;alert(1)" in text
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in text or "&quot;&gt;&lt;img src=x" in text
    assert "&amp;amp;" in text  # the layer named &amp;'"<b> stays literal text


def test_nested_backbone_collapses(reports):
    text, document = reports["lrcn_mobilenetv2"]["text"], reports["lrcn_mobilenetv2"]["document"]
    backbone = next(layer for layer in document["layers"] if layer["children"])
    assert len(backbone["children"]) > 100
    # one diagram box per top-level layer (plus the synthetic input and the output marker)
    assert text.count('class="node node-layer"') == len(document["layers"])
    assert re.search(rf"<summary>{len(backbone['children'])} layers inside <code>", text)
    assert "block_1_expand" in text  # the nested layers are in the page, inside <details>


def test_deterministic_apart_from_timestamp(models, reports, tmp_path):
    for name in ("classic_lrcn", "lrcn_mobilenetv2"):
        again = tmp_path / f"{name}.html"
        done = run_cli(str(models / f"{name}.h5"), "--probes", "off", "--exit-zero", "--html", str(again),
                       cwd=reports[name]["html"].parent)
        assert done.returncode == 0, done.stderr
        first = reports[name]["text"].splitlines()
        second = again.read_text(encoding="utf-8").splitlines()
        assert len(first) == len(second)
        differing = [(a, b) for a, b in zip(first, second) if a != b]
        assert all(GENERATED.match(a) and GENERATED.match(b) for a, b in differing), differing[:3]
        assert sum(bool(GENERATED.match(line)) for line in first) == 1


def test_render_is_pure(reports):
    from lrcn_advisor.reports.html import render
    document = reports["classic_lrcn"]["document"]
    moment = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert render(document, now=moment) == render(copy.deepcopy(document), now=moment)
    assert '<time datetime="2024-05-06T07:08:09Z">' in render(document, now=moment)


def test_source_date_epoch(reports, monkeypatch):
    from lrcn_advisor.reports.html import render
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert '<time datetime="1970-01-01T00:00:00Z">' in render(reports["classic_lrcn"]["document"])


# ---------------------------------------------------------------- probes (document["probes"])

def _probes(document: dict, status: str = "ran") -> dict:
    first = document["findings"][0]
    epochs = [{"epoch": e, "loss": 1 / e, "accuracy": 0.5 + e / 40, "val_loss": 1.2 / e, "val_accuracy": 0.4 + e / 50,
               "gap": 0.05, "step_time_s": 0.02} for e in range(1, 6)]
    return {
        "status": status, "reason": "GPU visible", "smoke": True, "device": "GPU <b>0</b>", "backend": "tensorflow",
        "data": {"source": "synthetic", "description": "moving dots", "caveat": "synthetic <i>data</i>"},
        "variants": [{"id": "original", "description": "as saved", "params": 10, "macs": 20,
                      "runs": [{"seed": s, "epochs": epochs} for s in range(2)]},
                     {"id": "fix-1", "description": first["edit"] or "", "params": 12, "macs": 25,
                      "runs": [{"seed": s, "epochs": epochs[:4]} for s in range(2)]}],
        "verdicts": [{"rule": first["rule"], "layers": list(first["layers"]), "variant": "fix-1",
                      "verdict": "confirmed", "metric": "val_accuracy", "effect_mean": 0.05, "ci_low": 0.01,
                      "ci_high": 0.09, "n": 2, "cost_change": "+20% MACs",
                      "explanation": "<script>alert(9)</script> better on every seed"}],
    }


def test_probe_verdicts_beside_findings(reports):
    from lrcn_advisor.reports.html import render
    document = copy.deepcopy(reports["hostile_names"]["document"])
    document["probes"] = _probes(document)
    text = render(document, now=datetime(2024, 1, 1, tzinfo=timezone.utc))
    first = document["findings"][0]
    article = re.search(rf'<article[^>]*id="f-{first["fingerprint"]}".*?</article>', text, re.S).group(0)
    assert "probe: confirmed" in article and "+0.0500" in article
    for other in document["findings"][1:]:
        article = re.search(rf'<article[^>]*id="f-{other["fingerprint"]}".*?</article>', text, re.S).group(0)
        assert "probe:" not in article
    assert 'id="chart-curve-val-acc"' in text and 'id="chart-curve-val-loss"' in text
    assert "CPU run" in text and "GPU &lt;b&gt;0&lt;/b&gt;" in text
    assert "<script" not in text.lower() and "<i>data" not in text
    assert "--probes on" not in text


@pytest.mark.parametrize("status", ["skipped", None])
def test_probes_not_run(reports, status):
    from lrcn_advisor.reports.html import render
    document = copy.deepcopy(reports["classic_lrcn"]["document"])
    document["probes"] = None if status is None else {"status": "skipped", "reason": "no GPU visible"}
    text = render(document, now=datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert "--probes on" in text
    if status:
        assert "were skipped" in text and "no GPU visible" in text


# ---------------------------------------------------------------- layout and charts (units)

def test_large_flat_model_draws_blocks():
    from lrcn_advisor.reports.diagram import MAX_LAYER_NODES, layout
    count = MAX_LAYER_NODES + 20
    layers = [{"name": f"l{i}", "class": "Conv2D", "inner_class": None, "kind": "conv",
               "inputs": [f"l{i - 1}"] if i else ["in"], "output_shape": [None, 8, 8, 4], "params": 1, "macs": 1,
               "block": f"conv{1 + i // 20}", "status": "ok", "children": []} for i in range(count)]
    blocks = [{"id": f"conv{b}", "kind": "conv", "label": f"Conv stage {b}", "params": 20, "macs": 20,
               "layers": [f"l{i}" for i in range((b - 1) * 20, min(count, b * 20))]}
              for b in range(1, 1 + (count + 19) // 20)]
    diagram = layout({"model": {"input_shapes": [[None, 8, 8, 3]]}, "layers": layers, "blocks": blocks})
    assert diagram.collapsed
    assert [n.kind for n in diagram.nodes].count("block") == len(blocks)
    assert len(diagram.edges) == len(blocks)  # a chain of blocks and the output


def test_branches_sit_side_by_side():
    from lrcn_advisor.reports.diagram import layout
    shape = [None, 4, 8]
    layers = [{"name": n, "class": c, "inner_class": None, "kind": "x", "inputs": i, "output_shape": shape,
               "params": 0, "macs": 0, "block": "b", "status": "ok", "children": []}
              for n, c, i in (("a", "LSTM", ["in"]), ("b", "GRU", ["in"]), ("m", "Concatenate", ["a", "b"]),
                              ("d", "Dense", ["m"]))]
    diagram = layout({"model": {"input_shapes": [[None, 4, 3]]}, "layers": layers, "blocks": []})
    boxes = {n.name: n for n in diagram.nodes}
    assert boxes["a"].y == boxes["b"].y and boxes["a"].x != boxes["b"].x
    assert boxes["m"].y > boxes["a"].y and boxes["d"].y > boxes["m"].y
    assert len(diagram.edges) == 6  # in->a, in->b, a->m, b->m, m->d, d->output


def test_chart_svg_is_clean_and_stable():
    from lrcn_advisor.reports import charts
    blocks = [{"id": "conv1", "label": "<b>x</b>", "params": 10, "macs": 1000},
              {"id": "head", "label": "Head", "params": 5, "macs": 0}]
    one = charts.block_bars(blocks, {"conv1": "#123456"}, "macs", "t1", "MACs")
    two = charts.block_bars(blocks, {"conv1": "#123456"}, "macs", "t1", "MACs")
    assert one == two
    assert one.startswith("<svg") and 'id="chart-t1"' in one
    assert "<script" not in one and "<!--" not in one and "<b>" not in one
    assert set(re.findall(r"https?://[^\s\"'<>]+", one)) == {"http://www.w3.org/2000/svg"}
    assert "<title>conv1 (&lt;b&gt;x&lt;/b&gt;): 1,000 MACs" in one
    layers = [{"name": "<img src=x>", "kind": "conv", "output_shape": [None, 4, 16, 16, 8], "block": "conv1"},
              {"name": "pool", "kind": "pool", "output_shape": [None, 4, 8, 8, 8], "block": "conv1"},
              {"name": "lstm", "kind": "recurrent", "output_shape": [None, 32], "block": "recurrent"}]
    line = charts.feature_map_chart(layers, 4, "fm", [None, 4, 32, 32, 3])
    assert "<img" not in line and "<script" not in line
    # one native tooltip per drawn point: 4 maps (input, conv, pool; the LSTM has none) + 4 channel counts
    assert line.count('<g class="dots"><title>') == 3 + 4
    assert "<title>&lt;img src=x&gt;: 16×16 map</title>" in line


# ---------------------------------------------------------------- in the browser


def _open(browser, path: Path, *, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    events = {"requests": [], "console": [], "dialogs": [], "errors": []}
    page.on("request", lambda r: events["requests"].append(r.url)
            if not r.url.startswith(("file://", "data:")) else None)
    page.on("console", lambda m: events["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: events["errors"].append(str(e)))

    def dialog(d):
        events["dialogs"].append(d.message)
        d.dismiss()
    page.on("dialog", dialog)
    page.goto(path.as_uri(), wait_until="load")
    return context, page, events


def _flat(text: str) -> str:
    return " ".join(text.replace("`", "").split())


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize("name", MODELS)
def test_in_chromium(browser, reports, name, javascript):
    report = reports[name]
    document = report["document"]
    context, page, events = _open(browser, report["html"], javascript=javascript)
    try:
        assert document["model"]["name"] in page.title()
        for selector in ("#verdict", "#model .stats", "svg.diagram", "table.layers", "table.blocks",
                         "#chart-block-macs", "#chart-feature-maps"):
            assert page.locator(selector).first.is_visible(), selector
        counts = document["counts"]
        verdict = _flat(page.locator("#verdict").inner_text())
        for severity, label in (("error", "error"), ("warning", "warning"), ("info", "info")):
            assert re.search(rf"\b{counts[severity]}\s+{label}", verdict, re.I), (severity, verdict)
        body = _flat(page.locator("body").text_content())
        for finding in document["findings"]:
            card = page.locator(f'[id="f-{finding["fingerprint"]}"]')
            assert card.count() == 1, finding["rule"]
            text = _flat(card.text_content())
            for part in (finding["rule"], finding["message"], finding["fix"], finding["severity"]):
                assert _flat(part) in text, (finding["rule"], part)
            for layer in finding["layers"]:
                assert layer in text
        for layer in document["layers"]:
            assert layer["name"] in body
        # a nested backbone opens without JavaScript
        summary = page.locator("tr.nested-row details > summary")
        if summary.count():
            nested = page.locator("table.inner").first
            assert not nested.is_visible()
            summary.first.click()
            assert nested.is_visible()
        if name == "hostile_names":
            for hostile in HOSTILE:
                assert hostile in body
            assert page.locator("img").count() == 0
            assert page.locator('img[src="x"]').count() == 0
            assert page.locator("script").count() == 0
            assert "<script>alert(1)" in page.locator("svg.diagram").text_content()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"html-report-{name}-{'js' if javascript else 'nojs'}.png"),
                        full_page=True)
        assert events["requests"] == [], events["requests"]
        assert events["console"] == [] and events["errors"] == [], events
        assert events["dialogs"] == []
    finally:
        context.close()


def test_probe_section_in_chromium(browser, reports, tmp_path):
    from lrcn_advisor.reports.html import render
    document = copy.deepcopy(reports["hostile_names"]["document"])
    document["probes"] = _probes(document)
    path = tmp_path / "probes.html"
    path.write_text(render(document), encoding="utf-8")
    context, page, events = _open(browser, path, javascript=True)
    try:
        assert page.locator("#chart-curve-val-acc").is_visible()
        first = document["findings"][0]
        assert "probe: confirmed" in page.locator(f'[id="f-{first["fingerprint"]}"]').text_content()
        assert "<script>alert(9)</script>" in page.locator("table.verdicts").text_content()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "html-report-probes.png"), full_page=True)
        assert events == {"requests": [], "console": [], "dialogs": [], "errors": []}
    finally:
        context.close()
