"""Errors the CLI turns into one line on stderr and exit code 2."""
from .safe_text import inert

MAX_MESSAGE_CHARS = 2000


class AdvisorError(Exception):
    """A problem with the user's input, options or configuration (exit 2).

    The message is made inert here, once: it quotes names and paths from files, and it must stay
    one line that cannot drive a terminal or start a CI workflow command.
    """

    def __init__(self, message: object = "", *args):
        super().__init__(inert(message, MAX_MESSAGE_CHARS), *args)


class InputError(AdvisorError):
    """The model file cannot be read or is not a model we can analyse."""


class ConfigError(AdvisorError):
    """A bad option or configuration value."""


class BudgetError(AdvisorError):
    """The work a file asks for is over a limit (nodes, layer calls, time)."""
