"""Output paths, checked before any work starts.

A simulation, a training run or a board build can take minutes to hours; a result that cannot
be written at the end is lost work, and the ``OSError`` that says so is a traceback. So every
command checks where its outputs go first, and says in one sentence what is wrong.

* An output *file* (``--json``, ``--waves``, ``-o``) goes into a directory that must already
  exist: a mistyped directory is more likely a typo than a wish for a new tree.
* An output *directory* (``--out``, ``--build-dir``) is created when missing, with its parents,
  but neither it nor any existing parent may be a file.
"""
from pathlib import Path

from .errors import BadParameter

__all__ = ["check_output_file", "check_output_dir"]


def check_output_file(option, path):
    """Return ``path`` as a Path, or raise unless a file can be written there (its directory
    exists and it is not itself a directory)."""
    p = Path(path)
    if p.is_dir():
        raise BadParameter(f"{option} names {str(path)!r}, which is a directory; give a file name")
    parent = p.parent
    if not parent.exists():
        raise BadParameter(f"{option} names {str(path)!r}, whose directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise BadParameter(f"{option} names {str(path)!r}, but {str(parent)!r} is a file, not a directory")
    return p


def check_output_dir(option, path):
    """Return ``path`` as a Path, or raise unless it is a directory or can be created as one
    (neither it nor its nearest existing parent is a file)."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise BadParameter(f"{option} names {str(path)!r}, which is a file, not a directory")
        return p
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BadParameter(f"{option} names {str(path)!r}, but {str(parent)!r} is a file, not a directory")
            break
    return p
