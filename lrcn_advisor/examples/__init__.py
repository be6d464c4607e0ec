"""Bundled example models (made by tools/make_models.py --examples lrcn_advisor/examples)."""
from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def path(name: str = "classic_lrcn.h5") -> Path:
    return FOLDER / name
