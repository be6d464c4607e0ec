"""End to end: the CLI as a CI gate on real Keras files (exit codes, SARIF, annotations, summary,
Markdown, JUnit, baselines, suppressions, budgets)."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from lrcn_advisor.rules import REGISTRY

from ci_models import HOSTILE_DROPOUT, HOSTILE_HEAD, assert_inert_markdown, check, cli, models, place, repo  # noqa: F401



def documents(result) -> list[dict]:
    data = json.loads(result.stdout)
    return data["models"] if "models" in data else [data]


def write_config(repo: Path, text: str) -> None:
    (repo / "lrcn-advise.toml").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- exit codes

@pytest.mark.parametrize("names, args, code", [
    (["clean"], [], 0),
    (["warn"], [], 0),                                   # default --fail-on error
    (["warn"], ["--fail-on", "warning"], 1),
    (["info"], ["--fail-on", "warning"], 0),
    (["info"], ["--fail-on", "info"], 1),
    (["broken"], [], 1),
    (["broken"], ["--fail-on", "never"], 0),
    (["broken"], ["--exit-zero"], 0),
    (["clean", "warn", "broken"], [], 1),                # several models: one combined exit code
    (["clean", "warn"], ["--fail-on", "warning", "--ignore", "DRP005"], 0),  # not reported, cannot fail
    (["clean"], ["--max-params", "1000"], 1),
    (["clean"], ["--max-macs", "1e6"], 1),
    (["clean"], ["--max-params", "1000", "--fail-on", "never"], 1),  # budgets fail regardless of --fail-on
    (["clean"], ["--max-params", "1000", "--exit-zero"], 0),
    (["clean"], ["--max-params", "1_000_000", "--max-macs", "1e9"], 0),
])
def test_exit_codes(repo, models, names, args, code):
    paths = [place(repo, models, name) for name in names]
    result = check(repo, *paths, *args)
    assert result.returncode == code, result.stderr


@pytest.mark.parametrize("exit_zero", [[], ["--exit-zero"]])
@pytest.mark.parametrize("case", ["missing", "not-a-model", "lfs", "bad-option", "unknown-rule", "bad-config",
                                  "missing-baseline", "one-bad-of-two"])
def test_errors_exit_2_even_under_exit_zero(repo, models, case, exit_zero):
    good = place(repo, models, "broken")
    args = {"missing": ["models/absent.h5"], "bad-option": [good, "--fail-on", "fatal"],
            "unknown-rule": [good, "--select", "XYZ9"], "missing-baseline": [good, "--baseline", "none.json"],
            "one-bad-of-two": [good, "models/absent.h5"], "not-a-model": ["models/text.h5"],
            "lfs": ["models/big.h5"], "bad-config": [good]}[case]
    (repo / "models" / "text.h5").write_text("hello\n")
    (repo / "models" / "big.h5").write_text("version https://git-lfs.github.com/spec/v1\n"
                                            "oid sha256:" + "0" * 64 + "\nsize 123456\n")
    if case == "bad-config":
        write_config(repo, "fail_on = 'warning'\n")
    result = check(repo, *args, *exit_zero)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if case == "lfs":
        assert "Git LFS pointer" in result.stderr and "git lfs pull" in result.stderr and "lfs: true" in result.stderr


def test_folder_and_glob_give_one_combined_result(repo, models):
    for name in ("clean", "warn", "broken"):
        place(repo, models, name)
    folder = check(repo, "models", "--format", "json")
    assert folder.returncode == 1
    assert [d["model"]["path"] for d in documents(folder)] == ["models/broken.h5", "models/clean.h5",
                                                               "models/warn.h5"]
    glob = check(repo, "models/[cw]*.h5", "--format", "json")
    assert glob.returncode == 0
    assert [d["model"]["path"] for d in documents(glob)] == ["models/clean.h5", "models/warn.h5"]


def test_budgets_from_config(repo, models):
    path = place(repo, models, "clean")
    write_config(repo, "max-params = 5000\nfail-on = 'never'\n")
    result = check(repo, path, "--format", "json")
    assert result.returncode == 1
    assert documents(result)[0]["budget_failures"] == ["params 9,219 exceed the budget of 5,000"]
    assert check(repo, path, "--max-params", "10000").returncode == 0  # the flag overrides the config


# --------------------------------------------------------------------------- SARIF

def sarif_of(repo: Path, *args: str) -> dict:
    result = check(repo, *args, "--sarif", "out.sarif")
    assert result.returncode in (0, 1), result.stderr
    return json.loads((repo / "out.sarif").read_text(encoding="utf-8"))


def test_sarif_is_valid_and_meets_code_scanning_requirements(repo, models, shared_dir):
    paths = [place(repo, models, name) for name in ("hostile", "warn", "clean")]
    write_config(repo, '[[suppress]]\nrule = "DRP005"\nlayer = "lstm"\nreason = "trained on TPU"\n')
    report = sarif_of(repo, *paths, "--max-params", "9200")
    schema = json.loads((shared_dir / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(report)

    assert report["version"] == "2.1.0" and len(report["runs"]) == 1
    run = report["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "lrcn-advise" and driver["version"] and "informationUri" not in driver  # unpublished
    assert len(driver["rules"]) == len(REGISTRY)
    for rule in driver["rules"]:
        assert re.fullmatch(r"[A-Z]{3}\d{3}", rule["id"]) and rule["name"]
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"] and "helpUri" not in rule
        assert f"docs/rules.md#{rule['id'].lower()}" in rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert rule["properties"]["tags"] and rule["properties"]["precision"] in ("very-high", "high", "medium", "low")
        assert rule["properties"]["problem.severity"] in ("error", "warning", "recommendation")

    results = run["results"]
    # hostile: MDL002 + DRP001; warn: DRP005 is suppressed and left out; clean: nothing
    assert sorted((r["ruleId"], r["level"]) for r in results) == [("DRP001", "warning"), ("MDL002", "error")]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "models/hostile.h5"
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert physical["region"]["startLine"] == 1
        assert re.fullmatch(r"[0-9a-f]{32}", result["partialFingerprints"]["lrcnFinding/v1"])
    names = {loc["fullyQualifiedName"]: loc for r in results for loc in r["locations"][0]["logicalLocations"]}
    assert set(names) == {f"hostile::{HOSTILE_DROPOUT}", f"hostile::{HOSTILE_HEAD}"}
    assert all(loc["kind"] == "member" for loc in names.values())
    notifications = run["invocations"][0]["toolExecutionNotifications"]
    assert [(n["message"]["text"], n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
            for n in notifications if n["level"] == "error"] == [
        ("params 9,219 exceed the budget of 9,200", "models/warn.h5"),
        ("params 9,219 exceed the budget of 9,200", "models/clean.h5")]


def fingerprints(report: dict) -> dict[str, str]:
    return {r["ruleId"]: r["partialFingerprints"]["lrcnFinding/v1"] for r in report["runs"][0]["results"]}


def test_sarif_fingerprints_are_stable_across_runs_and_layer_moves(repo, models):
    path = place(repo, models, "shift_a", as_name="net")
    first, second = fingerprints(sarif_of(repo, path)), fingerprints(sarif_of(repo, path))
    assert first == second and set(first) == {"DRP001"}
    place(repo, models, "shift_b", as_name="net")  # a conv inserted before `drop`: positions move
    assert fingerprints(sarif_of(repo, path))["DRP001"] == first["DRP001"]
    place(repo, models, "shift_b", as_name="other")  # the path is part of the identity
    assert fingerprints(sarif_of(repo, "models/other.h5"))["DRP001"] != first["DRP001"]


# --------------------------------------------------------------------------- GitHub annotations and summary

ANNOTATION = re.compile(r"::(error|warning|notice) file=([^,:]*),line=1,title=([^,:]*)::(.*)")


def unescape(text: str) -> str:
    for code, char in (("%3A", ":"), ("%2C", ","), ("%0D", "\r"), ("%0A", "\n"), ("%25", "%")):
        text = text.replace(code, char)
    return text


def test_github_annotations_and_step_summary(repo, models):
    paths = [place(repo, models, name) for name in ("warn", "hostile", "clean")]
    summary = repo / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    result = check(repo, *paths, "--format", "github", "--max-params", "9200", summary=summary)
    assert result.returncode == 1, result.stderr

    lines = result.stdout.splitlines()
    parsed = [ANNOTATION.fullmatch(line) for line in lines]
    assert all(parsed), lines  # every output line is exactly one command: nothing injected
    levels = [m.group(1) for m in parsed]
    assert levels == sorted(levels, key=["error", "warning", "notice"].index)  # errors first
    assert [(m.group(1), m.group(2)) for m in parsed] == [
        ("error", "models/clean.h5"), ("error", "models/warn.h5"),           # budgets
        ("error", "models/hostile.h5"),                                      # MDL002
        ("warning", "models/hostile.h5"), ("warning", "models/warn.h5")]     # DRP001, DRP005
    hostile = [m for m in parsed if m.group(2) == "models/hostile.h5"]
    assert unescape(hostile[0].group(3)) == "MDL002 softmax-single-unit: Softmax on a single output unit"
    drop_message = unescape(hostile[1].group(4))
    assert drop_message.split("\n")[0].startswith("`a\\u000ab|`x`[y](z) 50%,k:v @octocat` drops 0.95")
    assert drop_message.split("\n")[1].startswith("fix: ")
    assert "50%25" in hostile[1].group(4)

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n❌ **lrcn-advise: failed**")
    assert "| block | layers | params | MACs | share |" in text and "| conv1 (Conv stage 1) |" in text
    assert "DRP005" in text and "MDL002" in text and "exceed the budget" in text
    assert_inert_markdown(text)


def test_markdown_comment(repo, models):
    paths = [place(repo, models, name) for name in ("hostile", "clean")]
    result = check(repo, *paths, "--markdown", "comment.md", "--fail-on", "never")
    assert result.returncode == 0
    text = (repo / "comment.md").read_text(encoding="utf-8")
    assert text.startswith("<!-- lrcn-advise -->\n## ✅ **lrcn-advise: passed**")
    assert "(fail-on: never)" in text and "<details><summary>Blocks</summary>" in text
    assert "### models/hostile\\.h5" in text and "No findings." in text
    assert_inert_markdown(text)


def test_rule_links_only_where_the_docs_are_published(repo, models):
    """No link to an unpublished site: SARIF helpUri and Markdown rule links come from `docs-url`."""
    url = "https://example.org/lrcn-advise/blob/main/docs/rules.md"
    write_config(repo, f'docs-url = "{url}"\n')
    result = check(repo, place(repo, models, "hostile"), "--sarif", "out.sarif", "--markdown", "c.md",
                   "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    driver = json.loads((repo / "out.sarif").read_text(encoding="utf-8"))["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == url
    assert all(rule["helpUri"] == f"{url}#{rule['id'].lower()}" for rule in driver["rules"])
    assert f"({url}#mdl002)" in (repo / "c.md").read_text(encoding="utf-8")
    write_config(repo, 'docs-url = "docs/rules.md"\n')
    refused = check(repo, place(repo, models, "hostile"))
    assert refused.returncode == 2 and "docs-url: must be an http(s) URL" in refused.stderr


# --------------------------------------------------------------------------- JUnit

def test_junit_xml(repo, models):
    paths = [place(repo, models, name) for name in ("warn", "broken", "info", "clean")]
    write_config(repo, '[[suppress]]\nrule = "MDL002"\nlayer = "head"\nreason = "binary head, fixed later"\n')
    result = check(repo, *paths, "--junit", "out.xml", "--fail-on", "warning", "--ignore", "LST")
    assert result.returncode == 1
    root = ET.parse(repo / "out.xml").getroot()
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root}
    assert sorted(suites) == ["models/broken.h5", "models/clean.h5", "models/info.h5", "models/warn.h5"]
    enabled = len(REGISTRY) - sum(1 for rule in REGISTRY if rule.startswith("LST"))
    for suite in root:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) == enabled
        assert not any(case.get("name").startswith("LST") for case in cases)
        assert int(suite.get("failures")) == sum(1 for case in cases if case.find("failure") is not None)
    assert int(root.get("tests")) == 4 * enabled and root.get("failures") == "1" and root.get("skipped") == "1"

    warn = {case.get("name"): case for case in suites["models/warn.h5"]}
    failure = warn["DRP005 recurrent-dropout-slow [lstm]"].find("failure")
    assert failure.get("type") == "warning" and "fix: " in failure.text
    assert not list(warn["DRP001 dropout-too-high"])  # a rule without findings passes
    info = {case.get("name"): case for case in suites["models/info.h5"]}
    assert info["DRP002 dropout-too-low [drop]"].find("system-out").text.startswith("info: ")  # below --fail-on
    broken = {case.get("name"): case for case in suites["models/broken.h5"]}
    assert broken["MDL002 softmax-single-unit [head]"].find("skipped").get("message") == \
        "suppressed: binary head, fixed later"


def test_junit_budget_failure_and_hostile_names(repo, models):
    path = place(repo, models, "hostile")
    assert check(repo, path, "--junit", "out.xml", "--max-params", "10").returncode == 1
    suite = ET.parse(repo / "out.xml").getroot()[0]
    names = [case.get("name") for case in suite]
    assert f"MDL002 softmax-single-unit [{HOSTILE_HEAD}]" in names
    assert "DRP001 dropout-too-high [a\\u000ab|`x`[y](z) 50%,k:v @octocat]" in names
    assert "budget: params 9,185 exceed the budget of 10" in names
    assert suite.get("failures") == "2"


# --------------------------------------------------------------------------- baselines and suppressions

def test_baseline_round_trip(repo, models):
    path = place(repo, models, "warn", as_name="net")
    written = check(repo, path, "--write-baseline", "baseline.json", "--fail-on", "warning")
    assert written.returncode == 0, written.stderr
    baseline = json.loads((repo / "baseline.json").read_text(encoding="utf-8"))
    assert [(e["rule"], e["model"], e["layers"]) for e in baseline["findings"]] == [("DRP005", path, ["lstm"])]

    assert check(repo, path, "--fail-on", "warning").returncode == 1
    known = check(repo, path, "--baseline", "baseline.json", "--fail-on", "warning", "--sarif", "out.sarif",
                  "--format", "json")
    assert known.returncode == 0
    assert [f["in_baseline"] for f in documents(known)[0]["findings"]] == [True]
    assert json.loads((repo / "out.sarif").read_text(encoding="utf-8"))["runs"][0]["results"] == []

    place(repo, models, "warn_v2", as_name="net")  # the next version adds dropout 0.9
    regressed = check(repo, path, "--baseline", "baseline.json", "--fail-on", "warning", "--format", "json")
    assert regressed.returncode == 1
    assert [(f["rule"], f["in_baseline"]) for f in documents(regressed)[0]["findings"]] == [
        ("DRP001", False), ("DRP005", True)]


@pytest.mark.parametrize("expires, code", [(None, 0), (dt.date.today() + dt.timedelta(days=30), 0),
                                           (dt.date.today() - dt.timedelta(days=1), 1)])
def test_suppression_with_reason_and_expiry(repo, models, expires, code):
    path = place(repo, models, "warn")
    write_config(repo, '[[suppress]]\nrule = "DRP005"\nlayer = "lstm"\nreason = "we train on TPU"\n'
                 + (f"expires = {expires.isoformat()}\n" if expires else ""))
    result = check(repo, path, "--fail-on", "warning", "--format", "json")
    assert result.returncode == code
    finding = documents(result)[0]["findings"][0]
    assert finding["suppressed"] == (None if code else "we train on TPU")
    assert any("expired" in w for w in documents(result)[0]["warnings"]) == bool(code)


def test_suppression_needs_a_reason(repo, models):
    path = place(repo, models, "warn")
    write_config(repo, '[[suppress]]\nrule = "DRP005"\nlayer = "lstm"\nreason = " "\n')
    result = check(repo, path, "--exit-zero")
    assert result.returncode == 2 and "suppress[0].reason" in result.stderr


# --------------------------------------------------------------------------- packaging: action and pre-commit hook

ROOT = Path(__file__).resolve().parents[1]


def test_action_reaches_its_script_through_env_only(repo, models):
    yaml = pytest.importorskip("yaml")
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert set(action["inputs"]) == {"paths", "fail-on", "sarif-file", "args", "python-version", "version"}
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite" and all("${{" not in step.get("run", "") for step in steps)
    step = next(step for step in steps if step.get("id") == "run")
    assert step["env"] == {"LRCN_PATHS": "${{ inputs.paths }}", "LRCN_FAIL_ON": "${{ inputs.fail-on }}",
                           "LRCN_SARIF": "${{ inputs.sarif-file }}", "LRCN_ARGS": "${{ inputs.args }}"}
    if not (Path(sys.executable).parent / "lrcn-advise").exists():
        pytest.skip("the lrcn-advise script is not installed beside this Python")

    place(repo, models, "warn")
    (repo / "step.sh").write_text(step["run"], encoding="utf-8")
    hostile_args = "--no-html --probes off --json=$(touch${IFS}pwned) --junit=`touch${IFS}pwned`;touch${IFS}pwned"
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", GITHUB_OUTPUT=str(repo / "outputs"),
               GITHUB_STEP_SUMMARY=str(repo / "summary.md"), LRCN_PATHS="models/warn.h5\n 'models/*.h5'",
               LRCN_FAIL_ON="warning", LRCN_SARIF="out.sarif", LRCN_ARGS=hostile_args)
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "step.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr  # "'models/*.h5'" is one literal path: quotes are not shell syntax
    env["LRCN_PATHS"] = "models/warn.h5\n models/*.h5"
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "step.sh"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert (repo / "outputs").read_text() == "exit-code=2\nexit-code=1\n"
    assert done.stdout.startswith("::warning file=models/warn.h5,line=1,title=DRP005")
    assert json.loads((repo / "out.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
    assert (repo / "$(touch${IFS}pwned)").is_file() and (repo / "`touch${IFS}pwned`;touch${IFS}pwned").is_file()
    assert not (repo / "pwned").exists()


def test_pre_commit_hook(repo, models):
    yaml = pytest.importorskip("yaml")
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert (hook["id"], hook["entry"], hook["language"], hook["pass_filenames"]) == (
        "lrcn-advise", "lrcn-advise", "python", True)
    matches = [name for name in ("a.h5", "b/c.HDF5", "d.keras", "e.onnx", "f.json", "g.py", "h.h5.bak")
               if re.search(hook["files"], name)]
    assert matches == ["a.h5", "b/c.HDF5", "d.keras", "e.onnx"]
    files = [place(repo, models, "clean"), place(repo, models, "broken")]
    # pre-commit runs `entry *args *filenames` (no subcommand); --probes off keeps the test deterministic
    result = cli(repo, *hook["args"], "--probes", "off", *files)
    assert result.returncode == 1 and "MDL002" in result.stdout
    assert not (repo / "lrcn-reports").exists()
