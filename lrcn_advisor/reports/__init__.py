"""Renderers: results -> terminal table, JSON, SARIF, GitHub annotations, JUnit, Markdown, HTML."""
