"""The golden benchmark's plumbing on a tiny layer (no timing is asserted: benchmarks report, tests check)."""
import json

import pytest

import adderhw.bench_golden as bench


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(bench, "LAYERS", [("tiny 2->3 6x6", 2, 3, 6, 1), ("tiny s2", 2, 2, 6, 2)])
    monkeypatch.setattr(bench, "BATCH", 2)

    def in_process(fn, impl, layer, repeats, env=None):
        import contextlib
        import io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            getattr(bench, fn)(impl, layer, repeats)
        return json.loads(buf.getvalue().strip().splitlines()[-1])
    monkeypatch.setattr(bench, "_run_child", in_process)


def test_each_candidate_is_timed_beside_its_baseline(tiny):
    seen = []
    r = bench.run_bench(repeats=2, progress=seen.append)
    assert len(seen) == 3 * 2 + 5 * 2                       # time: 3 candidates; memory: 5 implementations
    assert "[1/16] time: golden and conv2d on tiny 2->3 6x6" in seen
    assert "[6/16] time: reference_fb and conv2d_fb on tiny s2" in seen
    assert [row["layer"] for row in r["layers"]] == ["tiny 2->3 6x6", "tiny s2"]
    for row in r["layers"]:
        for impl in ("golden", "reference", "reference_fb"):
            assert row[f"{impl}_ms"] > 0 and row[f"{impl}_time_x"] > 0 and row[f"{impl}_peak_mib"] >= 0
        base = row["golden_ms"] / row["golden_time_x"]
        assert base >= row["conv2d_ms"] - 1e-9                # conv2d's time is the best of its rounds
    table = bench.format_table(r)
    assert table.count("| tiny") == 2 and "best of 2 rounds" in table
