"""The executors: the local pool stays the default without Dask; a real Dask LocalCluster (2 worker
processes) gives the same regression results and survives a killed worker; Ctrl-C cancels what has
not finished; every worker of either runs the caller's initializer. (Board builds on the cluster:
tests/boards/test_build_job.py.)"""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from adderhw.base.errors import BadParameter
from adderhw.base.executor import DaskExecutor, LocalExecutor, make_executor, scheduler_from_env
from adderhw.regress import draw_cases, regress_gemm

from .dask_cluster import local_cluster, tasks_run

#: what :func:`_mark_worker` leaves in a worker process's environment
MARK = "ADDERHW_TEST_WORKER_INITIALISED"


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as c:
        yield c


def _mark_worker():
    """An initializer: the worker process notes its own pid (a job then reads it back there)."""
    os.environ[MARK] = str(os.getpid())


def _initialised_here(_):
    """A job: the pid this worker's initializer noted, and this worker's pid."""
    return os.environ.get(MARK), str(os.getpid())


def test_no_scheduler_means_the_local_pool_and_no_dask(tmp_path, monkeypatch):
    monkeypatch.delenv("ADDERHW_SCHEDULER", raising=False)
    assert scheduler_from_env(None) is None
    monkeypatch.setenv("ADDERHW_SCHEDULER", "tcp://10.0.0.1:8786")
    assert scheduler_from_env(None) == "tcp://10.0.0.1:8786" and scheduler_from_env("local:2") == "local:2"
    with make_executor(3) as ex:
        assert isinstance(ex, LocalExecutor) and ex.slots() == 3 and not ex.remote
    # a whole run on the default path, in a fresh interpreter: Dask is never imported
    code = ("import sys; from adderhw.cli import main; rc = main(['regress', '--cases', '3']); "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    env = {k: v for k, v in os.environ.items() if k != "ADDERHW_SCHEDULER"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0 []"
    assert "on 2 local processes" in r.stdout


@pytest.mark.parametrize("scheduler, message", [
    ("local:0", "scheduler must be tcp://HOST:PORT or local:N with N a positive number of workers, not 'local:0'"),
    ("myhost:8786", "scheduler must be tcp://HOST:PORT (a running dask scheduler) or local:N, not 'myhost:8786'"),
])
def test_a_bad_scheduler_is_one_sentence(scheduler, message, tmp_path):
    with pytest.raises(BadParameter) as e:
        DaskExecutor(scheduler)
    assert str(e.value) == message
    r = subprocess.run([sys.executable, "-m", "adderhw", "regress", "--cases", "1", "--scheduler", scheduler],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_a_regression_on_the_cluster_equals_the_local_pools(cluster):
    c, client = cluster
    here = regress_gemm(cases=8, seed=3, jobs=2)
    tasks, there = tasks_run(client, lambda: regress_gemm(cases=8, seed=3, scheduler=c.scheduler_address))
    assert tasks == 8                                     # every case ran on the cluster's workers
    assert "Dask cluster" in there["where"] and "local" in here["where"]
    assert there["results"] == here["results"] and here["passed"] == 8
    assert [r["case"] for r in there["results"]] == list(range(8))


def _long_cases(n):
    """Cases of a few seconds each in Amaranth's simulator (a 2x2 array, 16x48x16, stalls)."""
    cases = []
    for i, base in enumerate(draw_cases(n, seed=11)):
        rng = np.random.default_rng(i)
        base.update(rows=2, cols=2, width=8, pe="sad", mul_stages=1, k_max=48, t=16, k=48, p=16, stall_prob=0.3,
                    a=rng.integers(-128, 128, (16, 48)).tolist(), b=rng.integers(-128, 128, (48, 16)).tolist())
        cases.append(base)
    return cases


def test_a_worker_killed_during_a_job_is_replaced_and_the_run_is_correct(cluster):
    c, client = cluster
    cases = _long_cases(4)
    here = regress_gemm(cases=cases, jobs=2)
    box = {}
    run = threading.Thread(target=lambda: box.update(r=regress_gemm(cases=cases, scheduler=c.scheduler_address)))
    run.start()
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if busy:
            victim, keys = next(iter(busy.items()))
            key = keys[0]
        else:
            time.sleep(0.05)
    assert victim is not None, "no job started on the cluster"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)                          # the worker dies in the middle of its case

    def deaths(dask_scheduler, key=key):
        ts = dask_scheduler.tasks.get(key)
        return None if ts is None else ts.suspicious

    seen = None
    while time.monotonic() < deadline and not seen:
        seen = client.run_on_scheduler(deaths)
        time.sleep(0.05)
    run.join(120)
    assert seen == 1                                      # the scheduler saw the job's worker die under it
    assert box["r"]["results"] == here["results"] and box["r"]["passed"] == 4
    client.wait_for_workers(2, timeout=60)                # the nanny has restarted the killed worker


def test_ctrl_c_cancels_the_jobs_that_have_not_finished(cluster):
    c, client = cluster
    from adderhw.regress import run_case
    with pytest.raises(KeyboardInterrupt):
        with DaskExecutor(c.scheduler_address) as ex:
            futures = [ex.submit(run_case, case) for case in _long_cases(6)]
            deadline = time.monotonic() + 30
            while not any(client.processing().values()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any(client.processing().values())   # jobs are running when the user presses Ctrl-C
            raise KeyboardInterrupt
    assert all(f.cancelled() or f.done() for f in futures)
    assert sum(f.cancelled() for f in futures) >= 4      # two workers: at most two had finished or run
    deadline = time.monotonic() + 30
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0   # nothing left queued


def test_every_local_worker_runs_the_initializer_and_none_runs_without_one():
    with make_executor(2, initializer=_mark_worker) as ex:
        seen = [f.result() for f in [ex.submit(_initialised_here, i) for i in range(6)]]
    assert all(noted == pid for noted, pid in seen)
    with make_executor(2) as ex:
        assert [f.result()[0] for f in [ex.submit(_initialised_here, i) for i in range(4)]] == [None] * 4


def test_every_dask_worker_runs_the_initializer(cluster):
    c, client = cluster
    with make_executor(scheduler=c.scheduler_address, initializer=_mark_worker) as ex:
        assert ex.remote
        seen = [f.result() for f in [ex.submit(_initialised_here, i) for i in range(6)]]
    assert all(noted == pid for noted, pid in seen)
    # the plugin also set up the workers that had joined before it was registered: both of them
    noted = client.run(lambda: os.environ.get(MARK) == str(os.getpid()))
    assert list(noted.values()) == [True, True]


def test_an_initializer_that_is_not_a_function_is_one_sentence():
    with pytest.raises(BadParameter, match=r"^initializer must be a function or None, not 'stop'$"):
        LocalExecutor(1, initializer="stop")


def test_a_local_cluster_starts_while_another_holds_the_dashboard_port():
    # the scheduler's HTTP server took port 8787 when no dashboard address was given; with it busy
    # (another cluster, or another test's, under xdist) distributed warned, which the suite's
    # warnings-as-errors turned into "Cluster failed to start". It now asks for any free port.
    import socket
    held = socket.socket()
    try:
        held.bind(("0.0.0.0", 8787))
        held.listen()
    except OSError:
        pass                    # something else holds it already: the case this test is about
    try:
        with make_executor(scheduler="local:1") as ex:
            assert ex.remote and ex.submit(divmod, 7, 2).result() == (3, 1)
    finally:
        held.close()
