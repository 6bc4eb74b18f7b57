"""The error hierarchy: everything a user can cause is an :class:`AdderhwError`.

Every message is one sentence, so the CLI can print it as is and exit non-zero without a
traceback. The branches say whose fault it is:

* :class:`BadParameter` (also a ``ValueError``): a parameter or input was out of range; the
  message names the parameter, the value given and what is allowed.
* :class:`ToolError`: an external program is missing (:class:`ToolMissingError`, the message says
  how to install it) or ran and failed (:class:`ToolFailed`, the message says which tool and where
  its log is).
* :class:`SimulationError`: a simulation did not complete or did not match its reference.

:class:`Stopped` is not an error: a signal (SIGTERM, SIGINT) stopped a long command. It is a
``KeyboardInterrupt``, so that it passes every ``except Exception`` on its way out, as Ctrl-C does.
"""

__all__ = ["AdderhwError", "BadParameter", "ToolError", "ToolMissingError", "ToolFailed", "SimulationError", "Stopped"]


class AdderhwError(Exception):
    """Base of every error a user can cause; the message is one sentence."""


class BadParameter(AdderhwError, ValueError):
    """Bad parameter or input; the message says which, what was given and what is allowed."""


class ToolError(AdderhwError):
    """An external program (simulator, synthesis tool, solver) is missing or failed."""


class ToolMissingError(ToolError):
    """An external program is not installed; the message says how to install it."""


class ToolFailed(ToolError):
    """An external program ran and failed; the message names it and where its log is."""


class SimulationError(AdderhwError):
    """A simulation did not complete (a hang) or its result differs from the reference."""


class Stopped(KeyboardInterrupt):
    """A signal stopped the command (``signum``: which one); the message is one sentence."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum

    def __reduce__(self):                   # it may cross a process boundary like any exception
        return Stopped, (self.signum, str(self))
