"""Stopping a command stops its builds: SIGTERM to ``adderhw sweep`` (builds in a pool worker) or
``adderhw build`` (a build in the command's own process) ends the tools the build was running, and
so does SIGTERM to a pool worker alone.

No real tool runs: YOSYS names a fake one that starts a long ``sleep`` (the stand-in for nextpnr
grinding on) and waits for it, so the sleep is a grandchild of the build's shell."""
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from adderhw.base.errors import Stopped
from adderhw.boards import build_process
from adderhw.boards.build_process import run_build, stop_builds, stopping_builds
from adderhw.boards.build_job import build_executor

FAKE_TOOL = """#!/bin/sh
sleep 120 &
echo $! > "$ADDERHW_TEST_PIDS/tool.$$"
wait
"""


def _alive(pid):
    """True while ``pid`` runs (a zombie, dead but not yet reaped by its new parent, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True                         # no /proc here: os.kill said it exists


def _wait_for(what, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    return what()


def _fake_tool_env(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    tool = tmp_path / "fake-yosys"
    tool.write_text(FAKE_TOOL)
    tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "ADDERHW_SCHEDULER"}
    env.update(YOSYS=str(tool), ADDERHW_TEST_PIDS=str(pids), OMP_NUM_THREADS="1")
    return env, pids


@pytest.mark.parametrize("command", [
    # the sweep's builds run in a local pool's worker process
    ["sweep", "--board", "icebreaker", "--pe", "sad", "--max-pes", "1", "--jobs", "1", "--freq", "20"],
    # a single build runs in the command's own process (as compare-boards' builds do)
    ["build", "--board", "icebreaker", "--rows", "1", "--cols", "1", "--width", "4", "--k-max", "4", "--freq", "20"],
])
def test_sigterm_to_a_command_stops_the_tools_of_its_builds(command, tmp_path):
    env, pids = _fake_tool_env(tmp_path)
    out = ["--build-dir", str(tmp_path / "build")] if command[0] == "sweep" else ["--out", str(tmp_path / "build")]
    proc = subprocess.Popen([sys.executable, "-m", "adderhw", *command, *out], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    tool_pids = []
    try:
        files = _wait_for(lambda: list(pids.glob("tool.*")), 180)
        assert files, "the fake tool never started"
        tool_pids = [int(files[0].name.split(".")[1]), int(_wait_for(files[0].read_text, 5))]
        assert all(_alive(p) for p in tool_pids)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        # the tool and its own child end with the command, not two minutes later
        assert _wait_for(lambda: not any(_alive(p) for p in tool_pids), 5), "the build outlived its command"
        err = proc.stderr.read()          # read once the builds are gone: they would hold the pipe open
        assert proc.returncode == 128 + signal.SIGTERM
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1] == (f"adderhw {command[0]}: stopped by SIGTERM; the builds it was "
                                                f"running were stopped too")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in tool_pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()


def test_a_build_runs_in_a_group_of_its_own_and_stop_builds_ends_all_of_it(tmp_path):
    env, pids = _fake_tool_env(tmp_path)
    script = tmp_path / "build_top.sh"
    script.write_text('"$YOSYS"\n')
    box = {}
    runner = threading.Thread(target=lambda: box.update(rc=run_build(["sh", str(script)], cwd=tmp_path, env=env)))
    runner.start()
    try:
        files = _wait_for(lambda: list(pids.glob("tool.*")), 30)
        assert files
        tool = int(files[0].name.split(".")[1])
        sleeper = int(_wait_for(files[0].read_text, 5))
        assert os.getpgid(tool) == os.getpgid(sleeper) != os.getpgrp()   # one group, not ours
        stop_builds()
        runner.join(10)
        assert not runner.is_alive()
        assert box["rc"] == -signal.SIGTERM                                # the shell was stopped by it
        assert _wait_for(lambda: not _alive(sleeper) and not _alive(tool), 5)
    finally:
        stop_builds()
        runner.join(10)


def test_a_signal_during_a_builds_start_is_held_until_the_build_can_be_stopped(tmp_path, monkeypatch):
    # SIGTERM arrives inside Popen, after the fork: acting then would raise before the new build is
    # registered and leave it running; it is held and delivered again once the build is known
    env, pids = _fake_tool_env(tmp_path)
    script = tmp_path / "build_top.sh"
    script.write_text('"$YOSYS"\n')
    real_popen = subprocess.Popen
    started = []

    class SignalledPopen(real_popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self.pid)
            _wait_for(lambda: list(pids.glob("tool.*")), 30)       # the tool runs, then the signal comes
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(build_process.subprocess, "Popen", SignalledPopen)
    tool_pids = []
    try:
        with pytest.raises(Stopped, match="stopped by SIGTERM"):
            with stopping_builds():
                run_build(["sh", str(script)], cwd=tmp_path, env=env)
        files = list(pids.glob("tool.*"))
        tool_pids = [int(files[0].name.split(".")[1]), int(files[0].read_text())]
        assert started and not _alive(started[0])
        assert _wait_for(lambda: not any(_alive(p) for p in tool_pids), 5), "the build outlived its start"
    finally:
        for p in tool_pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)

def _stop_worker_and_see_its_build_end(pids):
    """Once the fake tool runs, SIGTERM the worker that started it (its pid in ``pids/worker``) and
    assert the tool and its child end within 10 s; kill them in any case."""
    tool_pids = []
    try:
        files = _wait_for(lambda: list(pids.glob("tool.*")), 60)
        assert files, "the fake tool never started"
        tool_pids = [int(files[0].name.split(".")[1]), int(_wait_for(files[0].read_text, 5))]
        os.kill(int((pids / "worker").read_text()), signal.SIGTERM)
        assert _wait_for(lambda: not any(_alive(p) for p in tool_pids), 10), "the build outlived its worker"
    finally:
        for p in tool_pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_a_pool_worker_stopped_by_sigterm_stops_its_build(tmp_path):
    # the worker alone is signalled (as a cluster's nanny or an impatient user would), and no
    # handler of this process is inherited: the worker's own, from the pool's initializer, acts
    env, pids = _fake_tool_env(tmp_path)
    script = tmp_path / "build_top.sh"
    script.write_text('echo $PPID > "$ADDERHW_TEST_PIDS/worker"\n"$YOSYS"\n')
    with pytest.raises(BrokenProcessPool):
        with build_executor(1) as pool:
            job = pool.submit(functools.partial(run_build, ["sh", str(script)], cwd=tmp_path, env=env))
            _stop_worker_and_see_its_build_end(pids)
            job.result(timeout=30)


def test_a_dask_worker_stopped_by_sigterm_stops_its_build(tmp_path):
    # the builds' executor on a cluster registers a worker plugin: each worker process stops its
    # builds when stopped
    distributed = pytest.importorskip("distributed")
    env, pids = _fake_tool_env(tmp_path)
    script = tmp_path / "build_top.sh"
    # the first run starts the tool; the scheduler's rerun on the restarted worker ends at once
    script.write_text('[ -e "$ADDERHW_TEST_PIDS/worker" ] && exit 0\n'
                      'echo $PPID > "$ADDERHW_TEST_PIDS/worker"\n"$YOSYS"\n')
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        with build_executor(scheduler=c.scheduler_address) as ex:
            job = ex.submit(functools.partial(run_build, ["sh", str(script)], cwd=tmp_path, env=env))
            _stop_worker_and_see_its_build_end(pids)
            assert job.result(timeout=60) == 0


def test_a_build_is_ended_as_soon_as_its_stop_condition_holds(tmp_path):
    # the "tool" writes a marker, then would run for five minutes; the condition sees the marker
    script = tmp_path / "build.sh"
    script.write_text("sleep 300 &\necho $! > tool.pid\ntouch marker\nwait\n")
    t0 = time.monotonic()
    rc = run_build(["sh", str(script)], cwd=tmp_path, stop_when=lambda: (tmp_path / "marker").exists(), poll=0.2)
    assert rc == -signal.SIGTERM and time.monotonic() - t0 < 60
    tool = int((tmp_path / "tool.pid").read_text())
    assert _wait_for(lambda: not _alive(tool), 5)      # the tool, in the build's group, ended with it


def test_a_build_whose_stop_condition_never_holds_runs_to_its_end(tmp_path):
    script = tmp_path / "build.sh"
    script.write_text("sleep 1\nexit 3\n")
    assert run_build(["sh", str(script)], cwd=tmp_path, stop_when=lambda: False, poll=0.2) == 3
