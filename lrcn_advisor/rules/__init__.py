"""lrcn-advise rule catalogue. Each module registers its rules in `REGISTRY` on import."""
from . import conv, dropout, lstm, model, pooling  # noqa: F401  (registration)
from .base import REGISTRY, Hit, Option, Rule

__all__ = ["REGISTRY", "Hit", "Option", "Rule", "all_rules", "get_rule"]


def all_rules() -> list[Rule]:
    return [REGISTRY[key] for key in sorted(REGISTRY)]


def get_rule(rule_id: str) -> Rule | None:
    return REGISTRY.get(rule_id.upper())
