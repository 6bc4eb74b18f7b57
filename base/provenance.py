"""Where a result came from, recorded in the result itself: the command that made it and the
commit of the code that ran (``base.tables.write_reports`` adds both to every report).

* ``command``: what the flow recorded (its canonical form, defaults left out), else the command
  line as typed (``adderhw`` and ``sys.argv[1:]``).
* ``commit``: ``git rev-parse --short HEAD`` of the checkout this package runs from, with
  ``+dirty`` when tracked files differ from it (a result from uncommitted code says so); ``None``
  outside a git checkout (an installed wheel).
"""
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

__all__ = ["source_commit", "typed_command", "stamp"]

_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def source_commit():
    """The short commit of the checkout, ``+dirty`` when tracked files are changed; None if none."""
    def git(*args):
        return subprocess.run(["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=20)
    try:
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def typed_command(argv=None):
    """The command line as typed, ``adderhw ...`` (for a result whose flow recorded none)."""
    argv = sys.argv[1:] if argv is None else argv
    return "adderhw " + shlex.join(argv)


def stamp(data):
    """``data`` (a result dict) with ``command`` (kept if the flow set it) and ``commit`` (always
    this checkout's: a result is made by the code that runs now)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    out.setdefault("command", typed_command())
    out["commit"] = source_commit()
    return out
