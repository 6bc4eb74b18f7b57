"""The one exception type that user-facing code raises for bad parameters or inputs.

Every message is one sentence naming the parameter, the value given and what is
allowed, so that the CLI can print it as is and exit non-zero without a traceback.
"""


class AdderhwError(ValueError):
    """Bad parameter or input; the message says which, what was given and what is allowed."""


class ToolMissingError(AdderhwError):
    """An external program (simulator, synthesis tool) is not installed; the message says how to install it."""
