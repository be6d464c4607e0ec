"""lrcn-advise: an architecture linter and advisor for LRCN video/sequence models."""

__version__ = "0.1.0"
