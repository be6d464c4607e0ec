"""Settings from `[tool.lrcn-advise]` in pyproject.toml or `lrcn-advise.toml`, and the CLI."""
from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .vocabulary import FrameSource

FAIL_LEVELS = ("error", "warning", "info", "never")
TOP_KEYS = {"select", "ignore", "fail-on", "max-params", "max-macs", "frames", "train-samples",
            "severity", "rules", "suppress", "diff", "docs-url"}
DIFF_KEYS = {"max-params-growth", "max-macs-growth"}
SUPPRESS_KEYS = {"rule", "layer", "reason", "expires"}
# The numbers' ranges, shared with the command line's options: wide enough for any real model, small
# enough for exact integer arithmetic.
FRAMES_RANGE = (1, 1_000_000)
COUNT_RANGE = (1, 10**18)          # max-params, max-macs, train-samples
GROWTH_RANGE = (0.0, 1e6)          # diff growth fractions
THRESHOLD_MAX = 1e18               # a rule threshold


@dataclass
class Suppression:
    rule: str
    layer: str
    reason: str
    expires: dt.date | None = None

    def matches(self, rule: str, layers: list[str]) -> bool:
        return self.rule == rule and (self.layer == "*" or self.layer in layers)


@dataclass
class Settings:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    fail_on: str = "error"
    max_params: int | None = None
    max_macs: int | None = None
    frames: int | None = None
    frames_source: FrameSource = FrameSource.CONFIG  # where `frames` came from, when set
    train_samples: int | None = None
    severity: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    suppress: list[Suppression] = field(default_factory=list)
    max_params_growth: float | None = None
    max_macs_growth: float | None = None
    source: str = ""  # the config file read, if any
    docs_url: str = ""  # where docs/rules.md is published (rule links in SARIF and Markdown); "" = no links

    def enabled(self, rule_id: str) -> bool:
        def hit(patterns):
            return any(rule_id.startswith(p.upper()) for p in patterns)
        return (not self.select or hit(self.select)) and not hit(self.ignore)


def find_config(start: Path) -> Path | None:
    """The nearest lrcn-advise.toml, or pyproject.toml with [tool.lrcn-advise], walking up."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        own = candidate / "lrcn-advise.toml"
        if own.is_file():
            return own
        project = candidate / "pyproject.toml"
        if project.is_file() and "lrcn-advise" in _read_toml(project).get("tool", {}):
            return project
    return None


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: invalid TOML ({error})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None


def load_settings(path: Path | None, known_rules: dict[str, Any]) -> Settings:
    """Parse and validate a config file; unknown keys and bad values are errors naming the key."""
    if path is None:
        return Settings()
    data = _read_toml(path)
    table = data.get("tool", {}).get("lrcn-advise", {}) if path.name == "pyproject.toml" else data
    where = f"{path}" + (" [tool.lrcn-advise]" if path.name == "pyproject.toml" else "")
    return parse_settings(table, where, known_rules, source=str(path))


def parse_settings(table: dict, where: str, known_rules: dict[str, Any], source: str = "") -> Settings:
    def fail(key: str, problem: str):
        raise ConfigError(f"{where}: {key}: {problem}")

    for key in table:
        if key not in TOP_KEYS:
            fail(key, f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    settings = Settings(source=source)
    for key in ("select", "ignore"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            fail(key, "must be a list of rule ids or prefixes")
        for pattern in value:
            if not any(rule_id.startswith(pattern.upper()) for rule_id in known_rules):
                fail(key, f"{pattern!r} matches no rule")
        setattr(settings, key, [v.upper() for v in value])
    if "fail-on" in table:
        settings.fail_on = check_fail_on(table["fail-on"], f"{where}: fail-on")
    for key, attr in (("max-params", "max_params"), ("max-macs", "max_macs"), ("frames", "frames"),
                      ("train-samples", "train_samples")):
        if key in table:
            value = table[key]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            low, high = FRAMES_RANGE if key == "frames" else COUNT_RANGE
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                fail(key, f"must be a whole number from {low:,} to {high:,}, got {value!r}")
            setattr(settings, attr, value)
    severity = table.get("severity", {})
    if not isinstance(severity, dict):
        fail("severity", "must be a table of RULE = \"error|warning|info\"")
    for rule_id, level in severity.items():
        if rule_id.upper() not in known_rules:
            fail(f"severity.{rule_id}", "unknown rule")
        if level not in ("error", "warning", "info"):
            fail(f"severity.{rule_id}", f"must be error, warning or info, got {level!r}")
        settings.severity[rule_id.upper()] = level
    rules = table.get("rules", {})
    if not isinstance(rules, dict):
        fail("rules", "must be a table of rule tables")
    for rule_id, options in rules.items():
        rule = known_rules.get(rule_id.upper())
        if rule is None:
            fail(f"rules.{rule_id}", "unknown rule")
        if not isinstance(options, dict):
            fail(f"rules.{rule_id}", "must be a table of thresholds")
        defaults = rule.defaults()
        for name, value in options.items():
            if name not in defaults:
                fail(f"rules.{rule_id}.{name}", f"unknown option (known: {', '.join(defaults) or 'none'})")
            default = defaults[name]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= THRESHOLD_MAX \
                    or (isinstance(default, int) and not isinstance(value, int)):
                fail(f"rules.{rule_id}.{name}", f"must be a non-negative {type(default).__name__} of at most "
                                                f"{THRESHOLD_MAX:g}, got {value!r}")
        settings.thresholds[rule_id.upper()] = dict(options)
    suppress = table.get("suppress", [])
    if not isinstance(suppress, list):
        fail("suppress", "must be an array of tables")
    for index, entry in enumerate(suppress):
        key = f"suppress[{index}]"
        if not isinstance(entry, dict):
            fail(key, "must be a table with rule, layer and reason")
        for name in entry:
            if name not in SUPPRESS_KEYS:
                fail(f"{key}.{name}", "unknown key (known: rule, layer, reason, expires)")
        rule_id, layer, reason = entry.get("rule"), entry.get("layer"), entry.get("reason")
        if not isinstance(rule_id, str) or rule_id.upper() not in known_rules:
            fail(f"{key}.rule", f"unknown rule {rule_id!r}")
        if not isinstance(layer, str) or not layer:
            fail(f"{key}.layer", "must name a layer (or \"*\")")
        if not isinstance(reason, str) or not reason.strip():
            fail(f"{key}.reason", "a suppression needs a reason")
        expires = entry.get("expires")
        if expires is not None and (not isinstance(expires, dt.date) or isinstance(expires, dt.datetime)):
            fail(f"{key}.expires", "must be a date (YYYY-MM-DD)")
        settings.suppress.append(Suppression(rule_id.upper(), layer, reason.strip(), expires))
    if "docs-url" in table:
        url = table["docs-url"]
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            fail("docs-url", f"must be an http(s) URL of the published docs/rules.md, got {url!r}")
        settings.docs_url = url
    diff = table.get("diff", {})
    if not isinstance(diff, dict):
        fail("diff", "must be a table")
    for name, value in diff.items():
        if name not in DIFF_KEYS:
            fail(f"diff.{name}", f"unknown key (known: {', '.join(sorted(DIFF_KEYS))})")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or not GROWTH_RANGE[0] <= value <= GROWTH_RANGE[1]:
            fail(f"diff.{name}", f"must be a fraction from {GROWTH_RANGE[0]:g} to {GROWTH_RANGE[1]:g}, got {value!r}")
        setattr(settings, name.replace("-", "_"), float(value))
    return settings


def check_fail_on(value, key: str) -> str:
    if value not in FAIL_LEVELS:
        raise ConfigError(f"{key}: must be one of {', '.join(FAIL_LEVELS)}, got {value!r}")
    return value
