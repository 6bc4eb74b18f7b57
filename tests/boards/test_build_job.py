"""Board builds as jobs on a real Dask LocalCluster (2 worker processes): a sweep gives the local
pool's results, brings its reports home and resumes without building; a deterministic build
failure is recorded once and never rebuilt."""
import json

import pytest

from adderhw.base.config import ArrayConfig
from adderhw.boards.build_job import BuildJob, build_executor, submit_build
from adderhw.boards.sweep import sweep

from ..base.dask_cluster import local_cluster, tasks_run

pytestmark = pytest.mark.boards


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as c:
        yield c


def test_a_sweep_on_the_cluster_equals_the_local_pools_and_resumes_without_building(cluster, tmp_path):
    c, client = cluster
    opts = dict(kinds=("mac+dsp",), config=ArrayConfig(width=6, k_max=4), freq=20)
    said = []
    here = sweep("icebreaker", jobs=2, out_dir=tmp_path / "local", **opts)
    tasks, there = tasks_run(client, lambda: sweep("icebreaker", scheduler=c.scheduler_address,
                                                   out_dir=tmp_path / "cluster", progress=said.append,
                                                   partial=tmp_path / "partial.json", **opts))
    assert there == here
    best = there["results"][0]["best"]
    assert (best["rows"], best["cols"], best["dsp"]) == (2, 4, 8)
    assert tasks == len(there["results"][0]["probes"]) >= 3
    # the reports came home: each probe's report.json sits in the client's build directory
    for p in there["results"][0]["probes"]:
        kept = json.loads((tmp_path / "cluster" / f"mac+dsp_{p['rows']}x{p['cols']}" / "report.json").read_text())
        assert kept["fmax_mhz"] == p["fmax_mhz"] and len(kept["design_key"]) == 20
    assert json.loads((tmp_path / "partial.json").read_text())["complete"] is False
    assert any("1 running" in line or "0 running" in line for line in said)
    assert said[-1].endswith(f"{tasks} done, 0 running, 0 queued; mac+dsp {tasks}")
    # a resumed sweep builds nothing: no task reaches a worker
    tasks, again = tasks_run(client, lambda: sweep("icebreaker", scheduler=c.scheduler_address,
                                                   out_dir=tmp_path / "cluster", **opts))
    assert tasks == 0 and again == here


def test_a_design_that_does_not_fit_is_recorded_once_and_not_rebuilt(cluster, tmp_path):
    c, client = cluster
    # the UP5K has 8 SB_MAC16 blocks; a 3x3 MAC array asks for 9: a deterministic failure
    job = BuildJob("icebreaker", ArrayConfig(rows=3, cols=3, width=6, k_max=4, pe="mac"), 20, True, 1,
                   str(tmp_path / "mac_3x3"))
    with build_executor(scheduler=c.scheduler_address) as ex:
        tasks, outcome = tasks_run(client, lambda: submit_build(ex, job).result())
        assert tasks == 1                                 # it ran once and was not retried
        assert outcome.report is None and "needs 9 ICESTORM_DSP, the device has 8" in outcome.why
        record = json.loads((tmp_path / "mac_3x3" / "does_not_fit.json").read_text())
        assert record["reason"] == outcome.why and record["design_key"] == outcome.no_fit_key
        tasks, again = tasks_run(client, lambda: submit_build(ex, job).result())
    assert tasks == 0 and again.kept and again.why == outcome.why
