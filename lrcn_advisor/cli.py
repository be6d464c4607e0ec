"""The `lrcn-advise` command line (click)."""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from . import __version__
from .errors import AdvisorError, ConfigError
from .vocabulary import FailOn, FrameSource

FORMATS = ("table", "json", "github", "markdown", "sarif", "junit")
FAIL_ON = ("error", "warning", "info", "never")


class DefaultGroup(click.Group):
    """`lrcn-advise MODEL ...` runs `check`; named subcommands run themselves."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def fail(message: str) -> None:
    click.echo(f"lrcn-advise: error: {message}", err=True)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lrcn-advise")
def main() -> None:
    """Architecture linter and advisor for LRCN (CNN + LSTM) video models.

    Run `lrcn-advise MODEL` (.h5, .keras, .json or .onnx) to count parameters
    and MACs per layer and block, apply the guide's rules, and write a report.
    """


def _settings(paths, config_path, cli: dict):
    from lrcn_advisor.rules import REGISTRY

    from .config import check_fail_on, find_config, load_settings

    source = Path(config_path) if config_path else find_config(Path(paths[0]) if paths else Path.cwd())
    if config_path and not source.is_file():
        raise ConfigError(f"{config_path}: config file not found")
    settings = load_settings(source, REGISTRY)
    for pattern in cli["select"] + cli["ignore"]:
        if not any(rule_id.startswith(pattern.upper()) for rule_id in REGISTRY):
            raise ConfigError(f"--select/--ignore: {pattern!r} matches no rule")
    if cli["select"]:
        settings.select = [p.upper() for p in cli["select"]]
    settings.ignore += [p.upper() for p in cli["ignore"]]
    overrides = {key: cli[key] for key in ("max_params", "max_macs", "frames", "train_samples")
                 if cli.get(key) is not None}
    if "frames" in overrides:
        overrides["frames_source"] = FrameSource.OPTION
    settings = replace(settings, **overrides)
    if cli.get("fail_on"):
        settings.fail_on = check_fail_on(cli["fail_on"], "--fail-on")
    return settings


def _positive_int(ctx, param, value):
    if value is None:
        return None
    text = str(value).replace("_", "").replace(",", "")
    try:
        number = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if number <= 0:
        raise click.BadParameter("must be positive")
    return number


@main.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="What to print on stdout.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the --format output to FILE.")
@click.option("--frames", callback=_positive_int, help="Time steps per clip (sets an unknown or overrides T).")
@click.option("--html", "html_path", type=click.Path(), help="HTML report path (default lrcn-reports/<file>.html).")
@click.option("--no-html", is_flag=True, help="Do not write the HTML report.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write JSON to FILE.")
@click.option("--sarif", "sarif_path", type=click.Path(dir_okay=False), help="Also write SARIF 2.1.0 to FILE.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Also write JUnit XML to FILE.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Also write Markdown to FILE.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="Lowest severity that fails the check (default error).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings or budgets fail (errors still exit 2).")
@click.option("--select", multiple=True, help="Only these rules (ids or prefixes, repeatable).")
@click.option("--ignore", multiple=True, help="Skip these rules (ids or prefixes, repeatable).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default: found upward).")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), help="Report only findings not in FILE.")
@click.option("--write-baseline", "write_baseline_path", type=click.Path(dir_okay=False),
              help="Record the current findings in FILE and exit 0.")
@click.option("--max-params", callback=_positive_int, help="Fail when total parameters exceed N.")
@click.option("--max-macs", callback=_positive_int, help="Fail when total MACs per clip exceed N.")
@click.option("--train-samples", callback=_positive_int, help="Training clips, for the params-vs-data rule.")
@click.option("--probes", type=click.Choice(["on", "off", "auto"]), default="auto", show_default=True,
              help="Verify findings with short training runs (auto: only when a GPU is visible).")
@click.option("--data", "data_path", type=click.Path(exists=True), help="Probe data: folder of class folders or .npz.")
@click.option("--probe-budget", help="The whole probe sweep's wall time ('90s', '5m'; default 5m on a CPU, "
              "10m on a GPU), and/or the steps per run ('200steps', '5m,200steps').")
@click.option("--seeds", default=8, show_default=True, type=click.IntRange(1, 50),
              help="Most paired seeds per variant; probes start with 3 and add seeds only while undecided.")
@click.option("--from-weights", is_flag=True, help="Probes start from the saved weights instead of fresh ones.")
@click.option("--trust-model-code", is_flag=True, help="Allow probes to run Lambda/custom code from the model.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--ray-address", help="Ray cluster address for --executor ray.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Probe cache folder (default .lrcn-advise-cache).")
@click.option("-v", "--verbose", is_flag=True, help="Show each finding's reasoning.")
def check(paths, fmt, output, frames, html_path, no_html, json_path, sarif_path, junit_path, markdown_path,
          fail_on, exit_zero, select, ignore, config_path, baseline_path, write_baseline_path, max_params,
          max_macs, train_samples, probes, data_path, probe_budget, seeds, from_weights, trust_model_code,
          executor, ray_address, cache_dir, verbose):
    """Analyse model files (paths, folders or globs) and report findings."""
    options = dict(locals())
    sys.exit(_guarded(lambda: _check(**options)))


def _guarded(action) -> int:
    try:
        return action()
    except AdvisorError as error:
        fail(str(error))
        return 2
    except KeyboardInterrupt:
        fail("interrupted")
        return 2
    except Exception as error:  # never a traceback for the user; LRCN_ADVISE_DEBUG=1 shows it
        if os.environ.get("LRCN_ADVISE_DEBUG"):
            raise
        fail(f"internal error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
             " (set LRCN_ADVISE_DEBUG=1 for details)")
        return 2


def _check(paths, fmt, output, frames, html_path, no_html, json_path, sarif_path, junit_path, markdown_path,
           fail_on, exit_zero, select, ignore, config_path, baseline_path, write_baseline_path, max_params,
           max_macs, train_samples, probes, data_path, probe_budget, seeds, from_weights, trust_model_code,
           executor, ray_address, cache_dir, verbose) -> int:
    from .load import expand_paths, prefetch

    models = expand_paths(list(paths))
    prefetch(models)  # HDF5 files are read by child processes while the rest of the tool imports

    from lrcn_advisor.reports.json_report import result_to_dict

    from .baseline import apply_baseline, load_baseline, write_baseline
    from .pipeline import analyse_file

    settings = _settings(paths, config_path, dict(select=list(select), ignore=list(ignore), max_params=max_params,
                                                  max_macs=max_macs, frames=frames, train_samples=train_samples,
                                                  fail_on=fail_on))
    results, failed = [], False
    for path in models:
        try:
            results.append(analyse_file(path, settings))
        except AdvisorError as error:
            fail(str(error))
            failed = True
    if not results:
        return 2
    if write_baseline_path:
        count = write_baseline(Path(write_baseline_path), results, models)
        click.echo(f"lrcn-advise: wrote {count} finding(s) to baseline {write_baseline_path}", err=True)
        return 2 if failed else 0
    if baseline_path:
        apply_baseline(results, load_baseline(Path(baseline_path)))
    if probes != "off":
        _run_probes(results, probes, data_path, probe_budget, seeds, from_weights, trust_model_code, executor,
                    ray_address, cache_dir, fmt == "table" and not output)
    documents = [result_to_dict(result) for result in results]
    _emit(documents, fmt, output, models, verbose, settings)
    extra = {"json": json_path, "sarif": sarif_path, "junit": junit_path, "markdown": markdown_path}
    for extra_fmt, path in extra.items():
        if path:
            _write(Path(path), render(documents, extra_fmt, settings), models)
    if fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        from lrcn_advisor.reports.markdown import render_summary
        _append_summary(Path(os.environ["GITHUB_STEP_SUMMARY"]), render_summary(documents, settings.fail_on))
    if not no_html:
        _write_html(documents, html_path, models)
    if failed:
        return 2
    gate = any(FailOn(settings.fail_on).fails(f.severity) for r in results for f in r.active) \
        or any(r.budget_failures for r in results)
    return 1 if gate and not exit_zero else 0


def render(documents: list[dict], fmt: str, settings) -> str:
    if fmt == "json":
        from lrcn_advisor.reports.json_report import dumps
        return dumps(documents[0] if len(documents) == 1 else {"schema_version": documents[0]["schema_version"]
                                                                if documents else "1.0", "models": documents})
    if fmt == "sarif":
        from lrcn_advisor.reports.sarif import render as sarif
        return sarif(documents)
    if fmt == "github":
        from lrcn_advisor.reports.github import render as github
        return github(documents)
    if fmt == "junit":
        from lrcn_advisor.reports.junit import render as junit
        from lrcn_advisor.rules import REGISTRY
        return junit(documents, settings.fail_on, [rule for rule in sorted(REGISTRY) if settings.enabled(rule)])
    if fmt == "markdown":
        from lrcn_advisor.reports.markdown import render as markdown
        return markdown(documents, settings.fail_on)
    raise ConfigError(f"unknown format {fmt!r}")


def _emit(documents, fmt, output, models, verbose, settings) -> None:
    if fmt == "table":
        import io

        from rich.console import Console

        from lrcn_advisor.reports.table import render as table
        if output:  # plain text, fixed width, for a file
            console = Console(record=True, width=140, file=io.StringIO(), highlight=False)
        else:
            console = Console(width=max(120, Console().width), highlight=False, soft_wrap=False)
        for document in documents:
            table(document, console, verbose=verbose)
        if output:
            _write(Path(output), console.export_text(), models)
        return
    text = render(documents, fmt, settings)
    if output:
        _write(Path(output), text, models)
    else:
        click.echo(text, nl=False)


def _write(path: Path, text: str, models) -> None:
    from .output import write_atomic
    write_atomic(path, text, protect=list(models))


def _append_summary(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        raise AdvisorError(f"$GITHUB_STEP_SUMMARY {path}: cannot write ({error.strerror})") from None


def _write_html(documents, html_path, models) -> None:
    from lrcn_advisor.reports.html import render as html

    for document, model in zip(documents, models):
        if html_path and len(documents) == 1 and not str(html_path).endswith(("/", os.sep)):
            target = Path(html_path)
        else:
            target = Path(html_path or "lrcn-reports") / f"{model.name}.html"
        _write(target, html(document), models)
        click.echo(f"lrcn-advise: HTML report: {target}", err=True)


def _run_probes(results, mode, data_path, budget, seeds, from_weights, trust, executor, ray_address, cache_dir,
                interactive) -> None:
    from .probes import ProbeOptions, run_probes
    from .progress import progress_printer

    from .probes.suite import seeds_warning

    warning = seeds_warning(seeds)
    if warning and mode == "on":
        click.echo(f"lrcn-advise: warning: {warning}", err=True)
    for result in results:
        options = ProbeOptions(mode=mode, data=Path(data_path) if data_path else None, budget=budget, seeds=seeds,
                               cache_dir=Path(cache_dir or ".lrcn-advise-cache"),
                               from_weights=Path(result.ir.path) if from_weights else None,
                               trust_model_code=trust, executor=executor, ray_address=ray_address,
                               model_path=Path(result.ir.path), budget_from_process_start=len(results) == 1)
        with progress_printer(interactive) as progress:
            result.probes = run_probes(result.ir, result.findings, options, progress=progress)


@main.command("rules")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table")
def list_rules(fmt):
    """List every rule: id, name, block, severity and title."""
    from lrcn_advisor.rules import all_rules

    catalogue = all_rules()
    if fmt == "json":
        import json
        click.echo(json.dumps([_rule_dict(r) for r in catalogue], indent=2))
        return
    if fmt == "markdown":
        from .docs import rules_markdown
        click.echo(rules_markdown(), nl=False)
        return
    for rule in catalogue:
        click.echo(f"{rule.id}  {rule.name:34} {rule.section:8} {rule.severity:8} {rule.title}")


def _rule_dict(rule) -> dict:
    return {"id": rule.id, "name": rule.name, "title": rule.title, "section": rule.section, "severity": rule.severity,
            "guide": rule.guide, "rationale": rule.rationale, "fix": rule.fix, "example": rule.example,
            "probe": rule.probe, "options": [{"name": o.name, "default": o.default, "description": o.description}
                                             for o in rule.options]}


@main.command("explain")
@click.argument("rule_id")
def explain(rule_id):
    """Explain one rule: what it checks, why it matters, an example, the fix and its options."""
    from lrcn_advisor.rules import get_rule

    from .docs import explain_text

    rule = get_rule(rule_id)
    if rule is None:
        fail(f"unknown rule {rule_id!r}; `lrcn-advise rules` lists them")
        sys.exit(2)
    click.echo(explain_text(rule), nl=False)


@main.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table")
@click.option("--frames", callback=_positive_int)
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--max-params-growth", type=float, help="Fail when params grow by more than this fraction.")
@click.option("--max-macs-growth", type=float, help="Fail when MACs grow by more than this fraction.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="Fail on new findings at or above this severity.")
def diff(old, new, fmt, frames, config_path, max_params_growth, max_macs_growth, fail_on):
    """Compare two versions of a model: per-block deltas, new and fixed findings."""
    def action():
        from .diff import compare
        from .reports.diff import render_diff
        from .pipeline import analyse_file

        settings = _settings([new], config_path, dict(select=[], ignore=[], frames=frames, fail_on=fail_on))
        for key, value in (("max_params_growth", max_params_growth), ("max_macs_growth", max_macs_growth)):
            if value is not None:
                if value < 0:
                    raise ConfigError(f"--{key.replace('_', '-')}: must be non-negative")
                setattr(settings, key, value)
        before = analyse_file(Path(old), settings)
        after = analyse_file(Path(new), settings)
        report = compare(before, after, settings)
        click.echo(render_diff(report, fmt), nl=False)
        return 1 if report["failures"] else 0
    sys.exit(_guarded(action))


@main.command("examples")
def examples():
    """Print the paths of the bundled example models."""
    from .examples import FOLDER

    for path in sorted(FOLDER.glob("*.h5")) + sorted(FOLDER.glob("*.keras")):
        click.echo(str(path))
