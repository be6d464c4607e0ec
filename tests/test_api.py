"""The Python API on real models: live Keras models equal their saved .keras files, PyTorch twins
(tools/torch_twins.py) give their Keras twins' per-block MACs, and Report's outputs are the CLI's.

Keras models come from tools/make_models.py and tools/make_onnx.py, built in this process;
nothing is mocked."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import lrcn_advisor  # noqa: E402
from lrcn_advisor import InputError, Report, advise  # noqa: E402
from lrcn_advisor.testing import assert_lrcn_ok  # noqa: E402

KERAS_MODELS = ["classic_lrcn", "lrcn_clean", "lrcn_gru_bidirectional", "lrcn_overpooled", "lrcn_bilstm",
                "lrcn_separable_gru", "lrcn_convlstm", "two_stream", "attention_pool", "masking_lstm",
                "hostile_names"]
TORCH_TWINS = ["torch_lstm_t8", "torch_lstm_bn_t8", "torch_gru_t20", "torch_bilstm2_bn_t8"]


@pytest.fixture(scope="module")
def make_models():
    import make_models
    return make_models


def finding_view(report: Report) -> list[tuple]:
    return [(f.rule, f.severity, f.section, f.layers, f.message, f.fix, f.evidence, f.cost) for f in report.findings]


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_live_keras_model_equals_its_saved_file(make_models, tmp_path, name):
    model = make_models.ARCHITECTURES[name]()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    live, saved = advise(model, config={}), advise(path, config={})  # no config found upward can differ
    assert live.totals == saved.totals
    assert live.layers == saved.layers  # names, classes, shapes, configs, params, MACs, blocks, notes
    assert live.blocks == saved.blocks
    assert finding_view(live) == finding_view(saved)
    assert live.frames == saved.frames and live.warnings == saved.warnings
    assert live.totals.params == model.count_params()  # the weights Keras built agree
    assert live.path == f"<keras {model.name}>"


def test_live_keras_model_is_never_called_or_saved(make_models, tmp_path, monkeypatch):
    model = make_models.ARCHITECTURES["classic_lrcn"]()

    def refuse(*args, **kwargs):
        raise AssertionError("advise() must not call or save the model")

    for method in ("__call__", "call", "predict", "save", "save_weights"):
        monkeypatch.setattr(type(model), method, refuse)
    monkeypatch.chdir(tmp_path)
    report = advise(model, frames=40)
    assert report.frames == 40 and report.totals.params == 73_060
    assert list(tmp_path.iterdir()) == []


# ---- PyTorch ---------------------------------------------------------------------

def twin_pair(name: str, batch_first: bool = True):
    import make_onnx
    import torch_twins

    _, _, spec = make_onnx.VARIANTS[name]
    spec = {**spec, "rnn": {**spec["rnn"], "batch_first": batch_first}}
    module = torch_twins.randomise(torch_twins.LRCNTwin(spec))
    keras_model = make_onnx.keras_model(spec, name)
    return spec, module, keras_model, make_onnx.exporter_changes(spec, "torchscript")


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("name", TORCH_TWINS)
def test_pytorch_twin_matches_keras_per_block(name, batch_first):
    import torch_twins

    spec, module, keras_model, changes = twin_pair(name, batch_first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_report = advise(module, example_input=torch_twins.example_input(spec))
    keras_report = advise(keras_model)
    keras_blocks = {b.id: [b.params, b.macs] for b in keras_report.blocks}
    for change in changes:  # the exporter's documented parameter changes (folded BN, two LSTM biases)
        keras_blocks[keras_report.ir.block_of(change["layer"]).id][0] += change["params"]
    expected = {k: v for k, v in keras_blocks.items() if v != [0, 0]}
    got = {b.id: [b.params, b.macs] for b in torch_report.blocks if (b.params, b.macs) != (0, 0)}
    assert got == expected
    # layers carry the module path, not the exporter's node names
    modules = dict(module.named_modules())
    counted = [layer.name for layer in torch_report.layers if layer.params]
    # (layer k of a stacked nn.LSTM/nn.GRU `rnn` is `rnn_k`, one logical layer per stacked layer)
    assert counted and all(name in modules or name.rsplit("_", 1)[0] in modules for name in counted), counted
    assert "rnn" in counted and "head" in counted
    # parameter differences are explained by the exporter notes, as for an exported file
    notes = [layer.note for layer in torch_report.layers]
    if spec["rnn"]["cell"] == "lstm":
        assert any("PyTorch LSTM has two bias vectors" in note for note in notes), notes
    if any(conv["bn"] for conv in spec["convs"]):
        assert any("BatchNorm folded into this Conv" in note for note in notes), notes
    assert torch_report.notes[0] == "exported in memory with torch.onnx.export (TorchScript) from LRCNTwin"
    assert module.training is False  # randomise() left it in eval mode, and advise restored that


def test_pytorch_module_keeps_its_training_mode_and_needs_an_example_input():
    import torch_twins

    spec, module, _, _ = twin_pair("torch_lstm_t8")
    module.train()
    with pytest.raises(InputError, match="example_input"):
        advise(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        advise(module, example_input=torch_twins.example_input(spec))
    assert module.training is True


def test_onnx_proto_and_bytes(tmp_path):
    import io

    import onnx
    import torch
    import torch_twins

    spec, module, _, _ = twin_pair("torch_gru_t20")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch_twins.example_input(spec),), buffer, dynamo=False)
    (tmp_path / "m.onnx").write_bytes(buffer.getvalue())
    from_file = advise(tmp_path / "m.onnx", config={})  # not a config another test left above tmp_path
    proto = onnx.load_from_string(buffer.getvalue())
    before = proto.SerializeToString()
    for live in (advise(proto, config={}), advise(buffer.getvalue(), config={})):
        assert live.totals == from_file.totals and live.blocks == from_file.blocks
    assert proto.SerializeToString() == before  # the caller's proto is left as it was
    with pytest.raises(InputError, match="not a readable ONNX model"):
        advise(b"not a model")
    with pytest.raises(InputError, match="cannot analyse a builtins.dict"):
        advise({"layers": []})


# ---- Report --------------------------------------------------------------------------

EXAMPLES = Path(lrcn_advisor.__file__).parent / "examples"


def cli_output(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lrcn_advisor", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_report_outputs_are_the_clis(tmp_path, monkeypatch):
    path = tmp_path / "overpooled.keras"
    path.write_bytes((EXAMPLES / "lrcn_overpooled.keras").read_bytes())
    monkeypatch.chdir(tmp_path)  # the same working folder, so the same repository-relative path
    report = advise(path.name)
    for fmt, method in (("json", report.to_json), ("sarif", report.to_sarif), ("junit", report.to_junit),
                        ("markdown", report.to_markdown)):
        done = cli_output(path.name, "--format", fmt, "--no-html", "--probes", "off", "--exit-zero", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert method() == done.stdout, fmt
    assert json.loads(report.to_json())["totals"]["macs"] == report.totals.macs == 33_161_344
    page = report.to_html(tmp_path / "out" / "r.html")
    assert (tmp_path / "out" / "r.html").read_text(encoding="utf-8") == page and "<script" not in page


def test_report_gate_and_exit_code():
    report = advise(EXAMPLES / "lrcn_overpooled.keras")
    assert [f.rule for f in report.findings] == ["DRP001", "POL001"]
    assert report.exit_code() == 0 and report.gate().passed            # default: fail on errors
    assert report.exit_code(fail_on="warning") == 1
    assert len(report.gate("warning").reasons) == 2
    assert report.exit_code(fail_on="never") == 0
    assert advise(EXAMPLES / "lrcn_overpooled.keras", max_params=10_000).exit_code(fail_on="never") == 1
    quiet = advise(EXAMPLES / "lrcn_overpooled.keras", ignore=["DRP"], config={"fail-on": "warning"})
    assert [f.rule for f in quiet.findings] == ["POL001"] and quiet.exit_code() == 1


def test_config_and_frames():
    report = advise(EXAMPLES / "classic_lrcn.h5", frames=100)
    assert report.frames == 100 and report.ir.frames_source == "option"
    from_config = advise(EXAMPLES / "classic_lrcn.h5", config={"frames": 8})
    assert from_config.frames == 8 and from_config.ir.frames_source == "config"
    with pytest.raises(lrcn_advisor.ConfigError, match="unknown key"):
        advise(EXAMPLES / "classic_lrcn.h5", config={"frame": 8})
    with pytest.raises(lrcn_advisor.ConfigError, match="matches no rule"):
        advise(EXAMPLES / "classic_lrcn.h5", select=["XYZ"])
    with pytest.raises(lrcn_advisor.ConfigError, match="frames: must be a positive integer"):
        advise(EXAMPLES / "classic_lrcn.h5", frames=0)
    with pytest.raises(InputError, match="no such file"):
        advise("missing.h5")


def test_assert_lrcn_ok_lists_findings_like_the_cli():
    assert_lrcn_ok(EXAMPLES / "lrcn_clean.keras", fail_on="warning")
    with pytest.raises(AssertionError) as failed:
        assert_lrcn_ok(EXAMPLES / "lrcn_overpooled.keras", fail_on="warning", max_macs=1_000_000)
    message = str(failed.value)
    assert "fails the gate (fail-on: warning): 2 finding(s), 1 budget(s) exceeded" in message
    assert "  WARNING POL001 feature-map-collapse  [`time_distributed_1`, `time_distributed_3`]" in message
    assert "    fix: change the pooling windows 8x8 -> 4x4" in message
    assert "  BUDGET  MACs 33,161,344 exceed the budget of 1,000,000" in message
    with pytest.raises(AssertionError) as budget_only:
        assert_lrcn_ok(EXAMPLES / "lrcn_overpooled.keras", fail_on="error", max_macs=1_000_000)
    message = str(budget_only.value)
    assert "(fail-on: error): 0 finding(s), 1 budget(s) exceeded" in message
    assert "below fail-on (2):\n  WARNING DRP001 dropout-too-high" in message


def test_public_names():
    assert set(lrcn_advisor.__all__) >= {"advise", "Report", "Totals", "Finding", "Gate"}
    for name in lrcn_advisor.__all__:
        assert getattr(lrcn_advisor, name) is not None
    with pytest.raises(AttributeError):
        lrcn_advisor.analyse_file  # noqa: B018  (private: not re-exported)
    assert (Path(lrcn_advisor.__file__).parent / "py.typed").is_file()


# ---- the format registry and the CLI's cold start ----------------------------------------

def test_every_format_is_one_registry_entry_with_one_signature():
    from lrcn_advisor.reports import CLI_FORMATS, FORMATS, RenderContext, render
    from lrcn_advisor.result import Gate

    report = advise(EXAMPLES / "lrcn_overpooled.keras")
    document = report.document()
    assert set(CLI_FORMATS) == {"table", "json", "github", "markdown", "sarif", "junit"}
    for name in FORMATS:
        assert isinstance(render(name, [document], RenderContext(gate=report.gate())), str), name
    # the verdict is the gate handed in, never recomputed by a renderer
    failing = report.gate("warning")
    passing = report.gate("never")
    for gate, head in ((failing, "❌ **lrcn-advise: failed**"), (passing, "✅ **lrcn-advise: passed**")):
        assert head in render("markdown", [document], RenderContext(gate=gate))
        assert head in render("summary", [document], RenderContext(gate=gate))
    junit = render("junit", [document], RenderContext(gate=failing))
    assert 'failures="2"' in junit.split("\n")[1]
    assert 'failures="0"' in render("junit", [document], RenderContext(gate=passing)).split("\n")[1]
    assert "passed (fail-on: never)" in render("html-fragment", [document], RenderContext(gate=passing))
    with pytest.raises(lrcn_advisor.ConfigError, match="unknown format"):
        render("yaml", [document], RenderContext())


def test_json_run_imports_only_the_stages_it_uses(tmp_path):
    """`--format json --no-html --probes off`: no probes, Ray, HTML, charts, terminal tables or numpy."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lrcn_advisor",
                           str(EXAMPLES / "classic_lrcn.keras"), "--format", "json", "--no-html", "--probes", "off"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "lrcn_advisor.api" in imported and "lrcn_advisor.reports.json_report" in imported
    for heavy in ("lrcn_advisor.probes", "ray", "pygal", "jinja2", "rich", "numpy", "onnx", "tensorflow", "torch",
                  "lrcn_advisor.reports.html", "lrcn_advisor.reports.table"):
        assert heavy not in imported, heavy
