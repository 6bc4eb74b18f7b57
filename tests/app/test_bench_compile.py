"""adderhw bench compile: its refusals, and its report from the runs it measured."""
import re

import pytest

from adderhw.base.errors import BadParameter
from adderhw.bench_compile import bench_compile, format_bench_compile
from adderhw.cli import main


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 21}, "depth must be 6n + 2 (8, 14, 20, 26, 32, ...), not 21"),
    ({"depth": 2}, "depth must be"),
    ({"images": 0}, "images must be"),
    ({"repeats": 0}, "repeats must be"),
])
def test_bad_parameters_are_refused_before_any_run(kwargs, message):
    with pytest.raises(BadParameter, match=re.escape(message)):
        bench_compile(progress=lambda m: None, **kwargs)


def test_the_cli_refuses_in_one_sentence(capsys, tmp_path):
    assert main(["bench", "compile", "--depth", "21", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "depth must be 6n + 2" in err and "Traceback" not in err


def test_a_real_run_of_the_smallest_resnet_reports_what_it_measured(monkeypatch):
    import adderhw.bench_compile as bc
    calls = []
    real = bc._one

    def one(depth, images, cache_dir, timeout=1800):
        calls.append(cache_dir)
        return real(depth, images, cache_dir, timeout)
    monkeypatch.setattr(bc, "_one", one)
    res = bench_compile(depth=8, images=2, repeats=1, progress=lambda m: None)
    # one cold run in its own cache, then the warm cache filled once and used once
    assert len(calls) == 3 and calls[0] != calls[1] and calls[1] == calls[2]
    assert res["layers"] == 1 + 3 * 2 + 2 + 1     # conv1, three blocks of two, two 1x1 downsamples, fc
    for kind in ("cold", "warm"):
        r = res["runs"][kind][0]
        assert 0 < r["compile_s"] < r["total_s"] <= r["wall_s"] and r["forward_s"] > 0
        assert res[kind]["total_s"]["median"] == r["total_s"]
        assert res[kind]["goal_met"] == (r["total_s"] < 30.0)
    table = format_bench_compile(res)
    assert "ResNet-8 (10 conv/FC layers" in table and "cold" in table and "warm" in table
