"""adderhw's one cache: where it lives, how an entry is named, and how parallel writers share it.

* ``cache_root()``: ``$ADDERHW_CACHE``, default ``~/.cache/adderhw``;
* ``cache_dir(kind)``: one folder per kind of entry: ``sim/<simulator>`` (compiled simulators,
  sim.cocotb_sim), ``models`` (trained networks, golden.trained);
* ``content_key(*parts)``: the one key scheme: the first 20 hex digits of the SHA-256 of the
  parts' text, NUL-separated, so that an entry is found again exactly when everything that made it
  is the same (the parts are the inputs: Verilog text and tool arguments, training settings and
  the machine's kernel family);
* ``locked(path)``: an exclusive lock beside an entry while one process makes it, so that parallel
  jobs (a process pool, pytest-xdist workers, cluster workers sharing a home directory) wait for
  it and reuse it instead of making it twice.
"""
import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

__all__ = ["cache_root", "cache_dir", "content_key", "locked"]


def cache_root():
    """``$ADDERHW_CACHE``, default ``~/.cache/adderhw``."""
    return Path(os.environ.get("ADDERHW_CACHE", Path.home() / ".cache" / "adderhw"))


def cache_dir(*kind):
    """The cache's folder for ``kind`` (path parts under the root), created if missing."""
    d = cache_root().joinpath(*kind)
    d.mkdir(parents=True, exist_ok=True)
    return d


def content_key(*parts):
    """The key of an entry made from ``parts`` (each turned to text): 20 hex digits of SHA-256."""
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:20]


@contextmanager
def locked(path):
    """Hold an exclusive lock on ``path`` + ".lock" (created beside it) for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
