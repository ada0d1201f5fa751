"""Two kinds of failure, mapped to exit codes by the CLI: bad input (2) and a failed run (1)."""


class UserError(Exception):
    """Input the user can fix: the message names the problem and the fix, on one line."""


class RunError(Exception):
    """A run that started from valid input and failed."""
