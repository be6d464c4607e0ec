"""The `lrcn-advise` command line (click)."""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import click

from ._version import __version__
from .errors import AdvisorError, ConfigError
from .option_types import COUNT, FRAMES, GROWTH, SECONDS, SMALL_COUNT
from .reports import CLI_FORMATS
from .safe_text import inert
from .watchdog import DEFAULT_SECONDS, Watchdog

FAIL_ON = ("error", "warning", "info", "never")


class DefaultGroup(click.Group):
    """`lrcn-advise MODEL ...` runs `check`; named subcommands run themselves."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = ["check", *args]
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's own handling, except that a bad option is one line on stderr (exit 2)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except click.UsageError as error:
            fail(error.format_message())
            sys.exit(2)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            fail("interrupted")
            sys.exit(2)


def fail(message: str) -> None:
    click.echo(f"lrcn-advise: error: {inert(message, 2000)}", err=True)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lrcn-advise")
def main() -> None:
    """Architecture linter and advisor for LRCN (CNN + LSTM) video models.

    Run `lrcn-advise MODEL` (.h5, .keras, .json or .onnx) to count parameters
    and MACs per layer and block, apply the guide's rules, and write a report.
    """


def setting(default=None):
    """A field that overrides the config's value of the same name when given (None / empty: keep it)."""
    return field(default=default, metadata={"setting": True})


@dataclass(frozen=True)
class CheckOptions:
    """Every `lrcn-advise check` option, one field each (named as the click parameter).

    Adding an option: one field here and one `@click.option` on `check`; a field made with
    `setting()` is passed to `api.apply_overrides`, on top of the config file's settings."""

    paths: tuple[str, ...]
    fmt: str = "table"
    output: str | None = None
    html_path: str | None = None
    no_html: bool = False
    json_path: str | None = None
    sarif_path: str | None = None
    junit_path: str | None = None
    markdown_path: str | None = None
    exit_zero: bool = False
    config_path: str | None = None
    baseline_path: str | None = None
    write_baseline_path: str | None = None
    verbose: bool = False
    # settings: override the config file
    frames: int | None = setting()
    fail_on: str | None = setting()
    max_params: int | None = setting()
    max_macs: int | None = setting()
    train_samples: int | None = setting()
    select: tuple[str, ...] = setting(())
    ignore: tuple[str, ...] = setting(())
    # probes
    probes: str = "auto"
    data_path: str | None = None
    probe_budget: str | None = None
    seeds: int = 8
    from_weights: bool = False
    trust_model_code: bool = False
    executor: str = "local"
    ray_address: str | None = None
    cache_dir: str | None = None
    # --conventions: other counters' conventions, per-video cost, training memory (docs/conventions.md)
    conventions: bool = False
    clips_per_video: int = 1
    views: int = 1
    batch: int = 1
    optimizer: str = "adam"
    max_seconds: float = DEFAULT_SECONDS  # per model, and for writing the reports (issue 16)

    def setting_values(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("setting")}

    def extra_outputs(self) -> dict[str, str | None]:
        """--json/--sarif/--junit/--markdown FILE: format -> path."""
        return {"json": self.json_path, "sarif": self.sarif_path, "junit": self.junit_path,
                "markdown": self.markdown_path}

    def probe_options(self):
        from .probes import ProbeOptions
        return ProbeOptions(mode=self.probes, data=Path(self.data_path) if self.data_path else None,
                            budget=self.probe_budget, seeds=self.seeds,
                            cache_dir=Path(self.cache_dir or ".lrcn-advise-cache"), from_weights=None,
                            trust_model_code=self.trust_model_code, executor=self.executor,
                            ray_address=self.ray_address)


@main.command("check")
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(CLI_FORMATS), default="table", show_default=True,
              help="What to print on stdout.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the --format output to FILE.")
@click.option("--frames", callback=FRAMES, help="Time steps per clip (sets an unknown or overrides T).")
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
@click.option("--max-params", callback=COUNT, help="Fail when total parameters exceed N.")
@click.option("--max-macs", callback=COUNT, help="Fail when total MACs per clip exceed N.")
@click.option("--train-samples", callback=COUNT, help="Training clips, for the params-vs-data rule.")
@click.option("--max-seconds", callback=SECONDS, default=str(DEFAULT_SECONDS), show_default=True,
              help="Stop with an error when reading and analysing one model (or writing the reports) takes longer.")
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
@click.option("--conventions", is_flag=True, help="What other FLOP counters report, per-video cost, training "
              "memory and a latency floor (docs/conventions.md).")
@click.option("--clips-per-video", default=1, callback=SMALL_COUNT, help="Clips per video for --conventions.")
@click.option("--views", default=1, callback=SMALL_COUNT, help="Crops/views per clip for --conventions.")
@click.option("--batch", default=1, callback=SMALL_COUNT, help="Training batch size for --conventions memory.")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
def check(**values):
    """Analyse model files (paths, folders or globs) and report findings."""
    options = CheckOptions(**values)
    sys.exit(_guarded(lambda: run_check(options)))


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


def run_check(options: CheckOptions) -> int:
    """`lrcn-advise check`: the API's advise() per model, then one gate and the reports."""
    from .load import cancel_prefetch, expand_paths, prefetch

    models = expand_paths(list(options.paths))
    prefetch(models)  # HDF5 files are read by child processes while the rest of the tool imports

    from .api import advise, apply_overrides, read_config
    from .baseline import load_baseline, write_baseline

    start = Path(options.paths[0])
    settings = apply_overrides(read_config(options.config_path, start), **options.setting_values())
    baseline = load_baseline(Path(options.baseline_path)) if options.baseline_path else None
    probe_options = options.probe_options() if options.probes != "off" else None
    reports, failed = [], False
    watchdog = Watchdog(options.max_seconds, on_expire=cancel_prefetch)
    for path in models:
        try:
            with watchdog.watch(str(path)):
                reports.append(advise(path, config=settings, baseline=baseline, probes="off"))
        except AdvisorError as error:
            fail(str(error))
            failed = True
    if not reports:
        return 2
    if options.write_baseline_path:
        count = write_baseline(Path(options.write_baseline_path), [r.result for r in reports], models)
        click.echo(f"lrcn-advise: wrote {count} finding(s) to baseline {inert(options.write_baseline_path)}",
                   err=True)
        return 2 if failed else 0
    if probe_options is not None:
        reports = _run_probes(reports, options, probe_options)
    with watchdog.watch("writing the reports"):
        return _report(options, reports, settings, models, failed)


def _report(options: CheckOptions, reports, settings, models, failed: bool) -> int:
    from .api import enabled_rules
    from .reports import RenderContext, render
    from .reports.json_report import result_to_dict
    from .result import Gate

    results = [report.result for report in reports]
    documents = [result_to_dict(result) for result in results]
    if options.conventions:
        from .cost_report import conventions_section
        for document, result in zip(documents, results):
            document["conventions"] = conventions_section(result.ir, options.clips_per_video, options.views,
                                                          options.batch, options.optimizer)
    to_terminal = options.fmt == "table" and not options.output and sys.stdout.isatty()
    context = RenderContext(gate=Gate.of(results, settings.fail_on), rules=enabled_rules(settings),
                            docs_url=settings.docs_url or None, verbose=options.verbose,
                            color=to_terminal and not os.environ.get("NO_COLOR"),
                            width=140 if options.output else max(120, shutil.get_terminal_size((120, 24)).columns))
    text = render(options.fmt, documents, context)
    if options.output:
        _write(Path(options.output), text, models)
    else:
        click.echo(text, nl=False)
    if options.conventions and options.fmt == "table" and not options.output:
        from .cost_report import text_lines
        click.echo("\n".join(inert(line) for d in documents for line in text_lines(d["conventions"])))
    for extra_fmt, path in options.extra_outputs().items():
        if path:
            _write(Path(path), render(extra_fmt, documents, context), models)
    if options.fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        _append_summary(Path(os.environ["GITHUB_STEP_SUMMARY"]), render("summary", documents, context))
    if not options.no_html:
        _write_html(documents, context, options.html_path, models)
    if failed:
        return 2
    return 1 if context.gate.failed and not options.exit_zero else 0


def _run_probes(reports, options: CheckOptions, probe_options):
    from .api import Report, _probed

    from .probes.options import seeds_warning

    interactive = options.fmt == "table" and not options.output
    warning = seeds_warning(options.seeds)
    if warning and options.probes == "on":
        click.echo(f"lrcn-advise: warning: {warning}", err=True)
    probed = []
    for report in reports:
        model_path = Path(report.result.ir.path)
        # one model: its sweep's time budget counts from the start of this process
        opts = replace(probe_options, from_weights=model_path if options.from_weights else None,
                       budget_from_process_start=len(reports) == 1)
        probed.append(Report(_probed(report.result, options.probes, opts, interactive), report.settings))
    return probed


def _write(path: Path, text: str, models) -> None:
    from .output import write_atomic
    write_atomic(path, text, protect=list(models))


def _append_summary(path: Path, text: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as error:
        raise AdvisorError(f"$GITHUB_STEP_SUMMARY {path}: cannot write ({error.strerror})") from None


def _write_html(documents, context, html_path, models) -> None:
    from .reports import render

    for document, model in zip(documents, models):
        if html_path and len(documents) == 1 and not str(html_path).endswith(("/", os.sep)):
            target = Path(html_path)
        else:
            target = Path(html_path or "lrcn-reports") / f"{model.name}.html"
        page = render("html", [document], context)
        if "conventions" in document:
            from .cost_report import html_panel
            page = page.replace("</body>", html_panel(document["conventions"]) + "</body>", 1)
        _write(target, page, models)
        click.echo(f"lrcn-advise: HTML report: {inert(target)}", err=True)


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
@click.option("--frames", callback=FRAMES)
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--max-params-growth", callback=GROWTH, help="Fail when params grow by more than this fraction.")
@click.option("--max-macs-growth", callback=GROWTH, help="Fail when MACs grow by more than this fraction.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="Fail on new findings at or above this severity.")
def diff(old, new, fmt, frames, config_path, max_params_growth, max_macs_growth, fail_on):
    """Compare two versions of a model: per-block deltas, new and fixed findings."""
    def action():
        from .api import apply_overrides, read_config
        from .diff import compare
        from .pipeline import analyse_file
        from .reports.diff import render_diff

        settings = apply_overrides(read_config(config_path, Path(new)), frames=frames, fail_on=fail_on)
        for flag, value in (("--max-params-growth", max_params_growth), ("--max-macs-growth", max_macs_growth)):
            if value is not None and value < 0:
                raise ConfigError(f"{flag}: must be non-negative")
        settings = replace(settings,
                           max_params_growth=settings.max_params_growth if max_params_growth is None
                           else max_params_growth,
                           max_macs_growth=settings.max_macs_growth if max_macs_growth is None else max_macs_growth)
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
