"""The one error a run reports to the user."""


class RunError(Exception):
    """A run that cannot start or resume; the message is one line."""
