"""Board builds as process groups of their own, stopped together with the command that runs them.

A build is ``sh build_top.sh``: Yosys, nextpnr and the packer, one after another. :func:`run_build`
starts it in a session, and so a process group, of its own. Two things follow:

* a signal meant for adderhw never reaches a tool half-way (a terminal's Ctrl-C goes to the
  foreground process group, which no longer holds the tools), and
* the whole build, the shell and the tool it is running, stops as one: :func:`stop_builds` sends
  SIGTERM to the group of every build this process is running.

So every process that runs builds must stop them when it is stopped itself:

* :func:`stopping_builds`, around a command's work (the CLI's board commands: ``build``, ``sweep``,
  ``compare-boards``, ``bench pe``, ``bench fmax``), turns SIGTERM and SIGINT into: stop the builds
  running in this process, stop the worker processes it started (a local pool's, a ``local:N``
  Dask cluster's; they stop their own builds), and raise :class:`~adderhw.base.errors.Stopped`,
  which the CLI reports in one sentence with a non-zero exit.
* :func:`stop_builds_on_signals`, in a worker process, makes SIGTERM and SIGINT first stop that
  worker's builds and then act as before (SIGTERM ends the worker, SIGINT raises
  KeyboardInterrupt). Board builds run on boards.build_job.build_executor, which hands it to
  base.executor as the workers' initializer: the local pool's workers run it as they start, and
  Dask workers through a worker plugin.

A remote Dask worker runs on another machine: its client cannot signal it, and Dask does not stop
a task that is running, so a build there runs to its end unless its worker is stopped (which then
stops the build).
"""
import multiprocessing
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager

from adderhw.base.errors import Stopped

__all__ = ["run_build", "stop_builds", "stopping_builds", "stop_builds_on_signals", "STOP_SIGNALS"]

#: the signals that stop a command and its builds
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: how long a stopped build or worker may take to end before it is killed outright
GRACE_SECONDS = 5.0


class _Running:
    """The builds this process is running: their Popen objects, and how many are being started."""

    def __init__(self):
        self.procs = set()
        self.starting = 0
        self.pending = None       # a stop signal that came while a build was being started
        self.lock = threading.Lock()


_running = _Running()


def run_build(args, stop_when=None, poll=2.0, **popen_args):
    """Run ``args`` (a build script) in a process group of its own until it ends; returns its exit
    status. The keyword arguments go to :class:`subprocess.Popen` (cwd, env, stdout, ...). An
    exception while it runs (a stop signal's) ends the build's whole group before it propagates.

    ``stop_when``: a function called every ``poll`` seconds while the build runs; when it returns
    true the build's whole group is ended at once and its (non-zero) status returned (a design
    that the packer already found too large for the device, which nextpnr may go on placing for
    an hour)."""
    with _running.lock:
        _running.starting += 1
    proc = None
    try:
        try:
            proc = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL, **popen_args)
            _running.procs.add(proc)
        finally:
            with _running.lock:
                _running.starting -= 1
                pending = None
                if not _running.starting:   # the last build being started delivers a held signal
                    pending, _running.pending = _running.pending, None
            if pending is not None:
                # a stop signal came while Popen ran: acting on it then could have left the new
                # build unknown and running; now that it is registered, it is delivered again
                os.kill(os.getpid(), pending)
        while True:
            try:
                return proc.wait(None if stop_when is None else poll)
            except subprocess.TimeoutExpired:
                if stop_when():
                    _end_group(proc)
                    return proc.returncode
    finally:
        if proc is not None:
            _running.procs.discard(proc)
            if proc.returncode is None:
                _end_group(proc)


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)            # the build's session leader: its pid is the group's id
    except (ProcessLookupError, PermissionError):
        pass                                # the group has ended


def _end_group(proc):
    """End a build's group: SIGTERM, then SIGKILL if it has not ended within the grace period."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.kill()
        proc.wait()


def stop_builds():
    """Send SIGTERM to the process group of every build this process is running. (The tools are
    sent SIGTERM whatever stopped adderhw: a YoWASP tool is a Python process, which SIGINT would
    only interrupt.)"""
    for proc in list(_running.procs):
        _signal_group(proc, signal.SIGTERM)


class _Handler:
    """A stop signal's handler: stop this process's builds, then ``then(signum, frame, previous)``.
    ``previous`` is the handler it replaced. While a build is being started the signal is held
    back (:func:`run_build` delivers it again)."""

    def __init__(self, previous, then):
        self.previous = previous
        self.then = then
        self.busy = False

    def __call__(self, signum, frame):
        if _running.starting:
            _running.pending = signum
            return
        if self.busy:                       # a second signal while the first is handled
            return
        self.busy = True
        try:
            stop_builds()
            self.then(signum, frame, self.previous)
        finally:
            self.busy = False


def _own(handler):
    """The handler under any of this module's (a forked worker inherits its parent's)."""
    while isinstance(handler, _Handler):
        handler = handler.previous
    return handler


def _as_before(signum, frame, previous):
    """Do what the signal did before the handler was installed."""
    if callable(previous):
        previous(signum, frame)
    elif previous in (signal.SIG_DFL, None):     # None: a handler not set from Python
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def stop_builds_on_signals():
    """In a worker process (its main thread): SIGTERM and SIGINT stop the worker's builds, then do
    what they did before. Elsewhere it does nothing: only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        signal.signal(sig, _Handler(_own(signal.getsignal(sig)), _as_before))


def _stop_workers(signum, frame, previous):
    """Stop the worker processes this process started (their handlers stop their builds), then
    stop the command."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():
            child.kill()
            child.join(1.0)
    raise Stopped(signum, f"stopped by {signal.Signals(signum).name}; the builds it was running were stopped too")


@contextmanager
def stopping_builds():
    """While the block runs (in the main thread), SIGTERM and SIGINT stop the builds of this process
    and of the worker processes it started, and then raise :class:`~adderhw.base.errors.Stopped`
    in the block. The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _Handler(old[sig], _stop_workers))
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, old[sig])
