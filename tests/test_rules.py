"""The rule catalogue: labelled models, docs for every rule, configuration and cost effects."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import run_cli
from lrcn_advisor.cli import main
from lrcn_advisor.config import Settings, Suppression, parse_settings
from lrcn_advisor.pipeline import lint_ir, recounter
from lrcn_advisor.rules.engine import run_rules
from lrcn_advisor.errors import ConfigError
from lrcn_advisor.pipeline import analyse_path
from lrcn_advisor.pipeline import analyse_file
from lrcn_advisor.rules import REGISTRY, all_rules


def _key(finding):
    return finding.rule, finding.layers[0] if finding.layers else ""


def test_labelled_set_precision_and_recall_are_one(rule_cases_dir):
    labels = json.loads((rule_cases_dir / "labels.json").read_text())
    true_pos = false_pos = false_neg = 0
    clean = [name for name in labels if name.startswith("clean")]
    assert len(clean) >= 3 and len(labels) - len(clean) >= len(REGISTRY)
    covered = set()
    for name, label in labels.items():
        result = analyse_file(rule_cases_dir / f"{name}.keras", Settings(train_samples=label["train_samples"]))
        found = {_key(f) for f in result.findings}
        wanted = {tuple(item) for item in label["findings"]}
        true_pos += len(found & wanted)
        false_pos += len(found - wanted)
        false_neg += len(wanted - found)
        covered |= {rule for rule, _ in found & wanted}
        if name in clean:
            assert not [f for f in result.findings if f.severity in ("error", "warning")], name
        assert found == wanted, (name, sorted(found - wanted), sorted(wanted - found))
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    print(f"\nlabelled rule set: {len(labels)} models, precision {precision:.3f}, recall {recall:.3f}")
    assert precision == 1.0 and recall == 1.0
    assert covered == set(REGISTRY), set(REGISTRY) - covered


def _changed_layers(before, after) -> set[str]:
    """Layers an edit added, removed or changed (class or config, its own or its wrapped layer's)."""
    def setting(spec):
        return spec.class_name, spec.config, spec.wrapped and setting(spec.wrapped), spec.graph
    old = {spec.name: spec for spec in before.layers}
    new = {spec.name: spec for spec in after.layers}
    changed = set(old) ^ set(new)
    changed |= {name for name in set(old) & set(new) if setting(old[name]) != setting(new[name])}
    if before.input_shapes != after.input_shapes:
        changed.add("<input>")
    return changed


def test_relinting_every_fix_never_undoes_it(rule_cases_dir):
    """Walk every rule's fix on the labelled set: re-lint the edited model and check that no rule
    then asks to undo the fix (a rule of the opposite direction firing anew, or a new finding whose
    own fix changes the same layers back), and that the fix's cost lists what it introduces."""
    from lrcn_advisor.pipeline import recounter
    from lrcn_advisor.rules.base import OPPOSITES
    from lrcn_advisor.rules.engine import relint
    labels = json.loads((rule_cases_dir / "labels.json").read_text())
    walked = introducing = 0
    for name, label in labels.items():
        settings = Settings(train_samples=label["train_samples"])
        ir = analyse_path(rule_cases_dir / f"{name}.keras")
        findings = lint_ir(ir, settings)
        before = {(f.rule, f.layers[0] if f.layers else "") for f in findings}
        for finding in findings:
            if finding.edit is None:
                continue
            walked += 1
            recount = recounter(ir)
            done = relint(ir, settings, recount, finding.edit)
            assert done is not None, (name, finding.rule, finding.edit.description)
            after, hits = done
            fixed_layers = _changed_layers(ir.graph, after.graph)
            new = [(rule, hit) for rule, hit in hits if (rule.id, hit.layers[0] if hit.layers else "") not in before]
            introducing += bool(new)
            for rule, hit in new:
                assert rule.id not in OPPOSITES.get(finding.rule, ()), \
                    (name, finding.rule, finding.fix, "undone by", rule.id, hit.message)
                if hit.edit is not None:
                    again = _changed_layers(after.graph, hit.edit(after.graph))
                    assert not (again & fixed_layers), \
                        (name, finding.rule, finding.fix, "undone by", rule.id, hit.fix)
            shown = finding.cost.introduces if finding.cost else []
            assert len(shown) == len([1 for rule, _ in new if rule.id not in {k[0] for k in before}]), \
                (name, finding.rule, shown, [(r.id, h.message) for r, h in new])
    print(f"\nre-linted {walked} fixes on {len(labels)} models; {introducing} introduce another finding")
    assert walked >= 40


def test_every_rule_is_fully_documented():
    for rule in all_rules():
        assert rule.id[:3].isalpha() and rule.id[3:].isdigit(), rule.id
        assert rule.section in ("conv", "pooling", "dropout", "lstm", "model")
        assert rule.severity in ("error", "warning", "info")
        for field in ("name", "title", "guide", "rationale", "fix", "example"):
            assert len(getattr(rule, field)) > 10 or field == "name", (rule.id, field)
        assert len(rule.rationale) > 120, rule.id


def test_explain_works_for_every_rule():
    runner = CliRunner()
    for rule in all_rules():
        result = runner.invoke(main, ["explain", rule.id.lower()])
        assert result.exit_code == 0, (rule.id, result.output)
        for text in (rule.id, rule.name, "Why it matters", "Example", "Fix", rule.fix[:40]):
            assert text in result.output, (rule.id, text)
        for option in rule.options:
            assert option.name in result.output


def test_explain_unknown_rule_exits_2():
    done = run_cli("explain", "XYZ999")
    assert done.returncode == 2 and "unknown rule" in done.stderr


def test_rules_command_lists_every_rule():
    done = run_cli("rules")
    assert done.returncode == 0
    assert all(rule.id in done.stdout for rule in all_rules())
    listed = json.loads(run_cli("rules", "--format", "json").stdout)
    assert [r["id"] for r in listed] == sorted(REGISTRY)


def test_docs_rules_md_is_generated_from_the_definitions():
    docs = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    assert docs.read_text() == run_cli("rules", "--format", "markdown").stdout, \
        "docs/rules.md is stale: run `lrcn-advise rules --format markdown > docs/rules.md`"


def test_classic_lrcn_collapse_and_the_cost_of_the_fix(corpus_dir):
    done = run_cli(corpus_dir / "classic_lrcn.h5", "--no-html", "--probes", "off")
    text = " ".join(done.stdout.split())
    assert "POL001" in text and "collapses the 64×64 frame to 1×1 before the recurrent stage" in text
    # 2x2 pools alone would feed 1,024 features to LSTM(32) and make LST003 fire (the re-lint sees it),
    # so the fix that introduces nothing is preferred: the same pools with GAP instead of Flatten
    assert "4x4 -> 2x2 at `time_distributed_1`" in text and "the final map is 4×4" in text
    assert "GlobalAveragePooling2D instead of Flatten at `time_distributed_11`" in text
    assert "params 73,060 → 73,060" in text and "MACs 68,075,648 → 271,564,928" in text
    assert "this fix makes" not in text


def test_cost_effect_is_a_recount_of_the_edited_model(corpus_dir):
    ir = analyse_path(corpus_dir / "classic_lrcn.h5")
    finding = next(f for f in lint_ir(ir, Settings()) if f.rule == "POL001")
    fixed = analyse_path(corpus_dir / "classic_lrcn.h5")
    from lrcn_advisor.analyze import reanalyse
    after = reanalyse(fixed, finding.edit(fixed.graph))
    assert (finding.cost.params_after, finding.cost.macs_after) == (after.params, after.macs)
    assert after.layer("time_distributed_1").output_shape == (None, 20, 32, 32, 16)
    assert ir.layer("time_distributed_1").output_shape == (None, 20, 16, 16, 16)  # the input IR is untouched


def _settings(table):
    return parse_settings(table, "test", REGISTRY)


def test_config_select_ignore_severity_thresholds(corpus_dir):
    ir = analyse_path(corpus_dir / "lrcn_overpooled.keras")
    everything = {f.rule for f in lint_ir(ir, Settings())}
    assert {"POL001", "DRP001"} <= everything
    assert {f.rule for f in lint_ir(ir, _settings({"select": ["POL"]}))} == {"POL001"}
    assert "DRP001" not in {f.rule for f in lint_ir(ir, _settings({"ignore": ["DRP001"]}))}
    raised = lint_ir(ir, _settings({"severity": {"POL001": "error"}}))
    assert next(f for f in raised if f.rule == "POL001").severity == "error"
    relaxed = lint_ir(ir, _settings({"rules": {"DRP001": {"max_rate": 0.9}}}))
    assert "DRP001" not in {f.rule for f in relaxed}


def test_suppression_needs_a_reason_and_expires(corpus_dir):
    ir = analyse_path(corpus_dir / "lrcn_overpooled.keras")
    layer = next(f for f in lint_ir(ir, Settings()) if f.rule == "POL001").layers[0]
    live = Settings(suppress=[Suppression("POL001", layer, "accepted for the demo", dt.date(2999, 1, 1))])
    assert next(f for f in lint_ir(ir, live) if f.rule == "POL001").suppressed == "accepted for the demo"
    stale = Settings(suppress=[Suppression("POL001", layer, "old", dt.date(2000, 1, 1))])
    report = run_rules(ir, stale, recounter(ir))
    assert not next(f for f in report.findings if f.rule == "POL001").suppressed
    assert any("expired" in w for w in report.warnings)
    assert not any("expired" in w for w in ir.warnings)  # the rule stage never writes into the IR
    with pytest.raises(ConfigError, match="reason"):
        _settings({"suppress": [{"rule": "POL001", "layer": layer}]})


@pytest.mark.parametrize("table,key", [({"selekt": []}, "selekt"), ({"severity": {"POL001": "fatal"}}, "severity.POL001"),
                                       ({"rules": {"POL001": {"nope": 1}}}, "rules.POL001.nope"),
                                       ({"rules": {"ZZZ001": {}}}, "rules.ZZZ001"),
                                       ({"fail-on": "sometimes"}, "fail-on"), ({"max-params": -3}, "max-params"),
                                       ({"select": ["QQQ"]}, "select")])
def test_bad_config_is_an_error_naming_the_key(table, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _settings(table)


def test_pyproject_config_is_found_walking_up(corpus_dir, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.lrcn-advise]\nignore = ["POL001"]\n')
    nested = tmp_path / "models" / "v1"
    nested.mkdir(parents=True)
    model = nested / "classic.h5"
    model.write_bytes((corpus_dir / "classic_lrcn.h5").read_bytes())
    done = run_cli(model, "--format", "json", "--no-html", "--probes", "off")
    assert "POL001" not in {f["rule"] for f in json.loads(done.stdout)["findings"]}


def test_opaque_layer_shapes_recovered_from_the_file(rule_cases_dir):
    """A Lambda that sums over time: the Dense after Flatten holds a (64, 128) kernel, 8,320 params,
    not the 131,200 that assuming the Lambda kept its (None, 16, 64) input would give."""
    keras_ir = analyse_path(rule_cases_dir / "mdl004_lambda_sums_time.keras")
    assert keras_ir.layer("sum_time").output_shape == (None, 64)
    assert "from the next layer's build config" in keras_ir.layer("sum_time").note
    fc = keras_ir.layer("fc")
    assert (fc.params, fc.input_shape, fc.exact) == (8_320, (None, 64), True)
    assert keras_ir.layer("flatten").shape_origin == "build config" and keras_ir.exact
    h5_ir = analyse_path(rule_cases_dir / "mdl004_lambda_sums_time.h5")  # no build configs: the saved kernels
    fc = h5_ir.layer("fc")
    assert (fc.params, fc.shape_origin, fc.exact, fc.params_exact) == (8_320, "saved weights", False, True)
    assert not h5_ir.layer("flatten").exact and h5_ir.params == keras_ir.params and not h5_ir.exact
    data = json.loads(run_cli(rule_cases_dir / "mdl004_lambda_sums_time.h5", "--format", "json", "--no-html",
                              "--probes", "off", "--frames", "16").stdout)
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["fc"]["exact"] is False and layers["fc"]["shape_origin"] == "saved weights"
    assert data["totals"]["exact"] is False and data["totals"]["params_exact"] is True
    table = run_cli(rule_cases_dir / "mdl004_lambda_sums_time.h5", "--no-html", "--probes", "off").stdout
    assert "~(None, 128)" in table and "params are exact" in table


def test_shape_preserving_lambda_in_h5_keeps_exact_params(rule_cases_dir):
    """x / 255 in an .h5 file: every kernel confirms the widths, so params stay exact while MACs are
    marked as resting on the Lambda keeping its shape."""
    h5_ir, keras_ir = (analyse_path(rule_cases_dir / f"mdl004_lambda.{fmt}") for fmt in ("h5", "keras"))
    assert h5_ir.params == keras_ir.params and h5_ir.params_exact and not h5_ir.exact
    assert keras_ir.exact and h5_ir.macs == keras_ir.macs
    assert h5_ir.layer("conv1").shape_origin == "saved weights"


def test_compile_loss_is_read_from_the_file(rule_cases_dir):
    for fmt in ("keras", "h5"):  # compile_config in .keras, training_config in .h5
        ir = analyse_path(rule_cases_dir / f"mdl007_sigmoid_categorical.{fmt}")
        assert ir.model.loss == "categorical_crossentropy", fmt
        assert [f.rule for f in lint_ir(ir, Settings()) if f.severity == "error"] == ["MDL007"], fmt
    assert analyse_path(rule_cases_dir / "clean_multilabel_sigmoid_bce.keras").model.loss == "binary_crossentropy"
    assert analyse_path(rule_cases_dir / "mdl003_sigmoid_many.keras").model.loss is None
