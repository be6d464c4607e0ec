"""Errors the CLI turns into one line on stderr and exit code 2."""


class AdvisorError(Exception):
    """A problem with the user's input, options or configuration (exit 2)."""


class InputError(AdvisorError):
    """The model file cannot be read or is not a model we can analyse."""


class ConfigError(AdvisorError):
    """A bad option or configuration value."""
