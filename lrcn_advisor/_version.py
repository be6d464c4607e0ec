"""The package version (its own module, so every stage can import it without the package root)."""

__version__ = "0.1.0"
