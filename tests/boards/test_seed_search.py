"""boards.seed_search: nextpnr seeds tried in turn, and the build time limit that ends a stalled one."""
import json
import os
import time
from pathlib import Path

import pytest

from adderhw.base.errors import BadParameter
from adderhw.boards import build as build_module, engine_build
from adderhw.boards.build import BuildTimedOut, DesignDoesNotFit, PlacementGaveUp
from adderhw.boards.engine_build import build_engine_board
from adderhw.boards.platforms import board as board_by_name
from adderhw.boards.seed_search import check_seeds, search_seeds

from .test_engine_build import TINY


def _builds(outcomes):
    """A stand-in build: seed -> an exception to raise, or the Fmax it reaches against a 30 MHz clock;
    returns (build, calls)."""
    calls = []

    def build(seed, out_dir):
        calls.append((seed, Path(out_dir)))
        outcome = outcomes[seed]
        if isinstance(outcome, Exception):
            raise outcome
        return {"seed": seed, "fmax_mhz": outcome, "timing_met": outcome >= 30.0, "bitstream": "top.bin"}
    return build, calls


def test_the_first_seed_that_places_and_meets_timing_is_the_answer(tmp_path):
    build, calls = _builds({1: PlacementGaveUp("nextpnr's heap placer could not place the design"), 2: 29.0,
                            3: 31.5, 4: 40.0})
    r = search_seeds(build, [1, 2, 3, 4], tmp_path)
    assert calls == [(s, tmp_path / f"seed-{s}") for s in (1, 2, 3)]          # seed 4 is never built
    assert r["seed"] == 3 and r["timing_met"] and r["bitstream"] == "seed-3/top.bin"
    assert r["seeds_tried"] == [
        {"seed": 1, "outcome": "not placed", "reason": "nextpnr's heap placer could not place the design"},
        {"seed": 2, "outcome": "timing missed", "fmax_mhz": 29.0},
        {"seed": 3, "outcome": "timing met", "fmax_mhz": 31.5}]
    assert json.loads((tmp_path / "report.json").read_text()) == r


def test_when_no_seed_meets_timing_the_fastest_placed_build_is_the_answer(tmp_path):
    build, calls = _builds({5: 27.0, 6: BuildTimedOut("did not finish within 20 minutes"), 7: 28.5, 8: 26.0})
    r = search_seeds(build, (5, 6, 7, 8), tmp_path)
    assert [s for s, _ in calls] == [5, 6, 7, 8]
    assert r["seed"] == 7 and not r["timing_met"] and r["bitstream"] == "seed-7/top.bin"
    assert [t["outcome"] for t in r["seeds_tried"]] == ["timing missed", "timed out", "timing missed", "timing missed"]


def test_a_design_too_large_ends_the_search_at_once(tmp_path):
    # no seed changes a cell count
    build, calls = _builds({1: DesignDoesNotFit("needs 5701 ICESTORM_LC, the device has 5280"), 2: 40.0})
    with pytest.raises(DesignDoesNotFit, match="needs 5701 ICESTORM_LC"):
        search_seeds(build, [1, 2], tmp_path)
    assert [s for s, _ in calls] == [1]


def test_when_no_seed_places_every_reason_is_given(tmp_path):
    build, _ = _builds({1: PlacementGaveUp("no legal placement"), 2: BuildTimedOut("stopped after 20 minutes")})
    with pytest.raises(DesignDoesNotFit) as e:
        search_seeds(build, [1, 2], tmp_path)
    assert str(e.value) == ("no seed of 1, 2 placed the design: seed 1: no legal placement; "
                            "seed 2: stopped after 20 minutes")
    assert not (tmp_path / "report.json").exists()


def test_one_seed_builds_in_the_directory_itself(tmp_path):
    build, calls = _builds({4: 20.0})
    assert search_seeds(build, 4, tmp_path) == {"seed": 4, "fmax_mhz": 20.0, "timing_met": False, "bitstream": "top.bin"}
    assert calls == [(4, tmp_path)]


@pytest.mark.parametrize("seeds", [[], [1, 1], -1, [2, -3], "1", True, [1.5], None])
def test_bad_seeds_are_refused(seeds, tmp_path):
    with pytest.raises(BadParameter, match=r"^seed must be a non-negative integer or a list of distinct ones, not "):
        check_seeds(seeds)


def test_an_engine_build_searches_a_list_of_seeds(monkeypatch, tmp_path):
    # build_engine_board hands a list to the search, one seed per build, each in its own directory
    seen = []

    def one(board_name, engine, cycles_per_image, seed=1, out_dir="build", clock_mhz=None, **options):
        seen.append((seed, Path(out_dir), clock_mhz))
        if seed == 2:
            raise PlacementGaveUp("nextpnr's heap placer could not place the design on iCE40UP5K-SG48")
        return {"fmax_mhz": 38.9, "timing_met": True, "bitstream": "top.bin"}
    real = engine_build.build_engine_board
    monkeypatch.setattr(engine_build, "build_engine_board",
                        lambda *a, seed=1, **k: (real if not isinstance(seed, int) else one)(*a, seed=seed, **k))
    r = engine_build.build_engine_board("icebreaker", TINY, 1000, seed=[2, 3], out_dir=tmp_path, clock_mhz=32.625)
    assert seen == [(2, tmp_path / "seed-2", 32.625), (3, tmp_path / "seed-3", 32.625)]
    assert r["bitstream"] == "seed-3/top.bin" and [t["outcome"] for t in r["seeds_tried"]] == ["not placed", "timing met"]


# ---------------------------------------------------------------- the time limit
class _StallsForever:
    """A build plan whose "nextpnr" runs for five minutes, as the heap placer did on a nearly full UP5K."""

    def extract(self, out):
        (Path(out) / "build_top.sh").write_text("sleep 300\n")


def test_a_build_past_its_time_limit_is_stopped(tmp_path):
    b = board_by_name("icebreaker")
    t0 = time.monotonic()
    with pytest.raises(BuildTimedOut) as e:
        build_module.execute_plan(_StallsForever(), b, tmp_path, "top", "key", dict(os.environ), lambda msg: None,
                                  time_limit_s=3)
    assert 3 <= time.monotonic() - t0 < 30
    assert str(e.value) == (f"the build for icebreaker (iCE40UP5K-SG48) did not finish within 3 s and was stopped "
                            f"(its log: {tmp_path / 'build.log'})")
    assert isinstance(e.value, PlacementGaveUp)
    assert not (tmp_path / "does_not_fit.json").exists()       # not kept: a longer limit may finish it


def test_an_engine_build_that_times_out_names_its_seed_and_placer(monkeypatch, tmp_path):
    limits = []

    def execute(plan, b, out, name, key, env, say, time_limit_s=None):
        limits.append(time_limit_s)
        raise BuildTimedOut("the build for iCEBreaker (iCE40UP5K-SG48) did not finish within 20 minutes and was "
                            "stopped")
    monkeypatch.setattr(engine_build, "execute_plan", execute)
    with pytest.raises(BuildTimedOut) as e:
        build_engine_board("icebreaker", TINY, 1000, out_dir=tmp_path, versions=False, seed=5)
    assert str(e.value).endswith("was stopped: nextpnr's heap placer on seed 5 (another seed or placer may finish "
                                 "it, or a longer time limit)")
    with pytest.raises(BuildTimedOut):
        build_engine_board("ulx3s-85f", TINY, 1000, out_dir=tmp_path, versions=False, time_limit_min=2.5)
    with pytest.raises(BuildTimedOut):
        build_engine_board("icebreaker", TINY, 1000, out_dir=tmp_path, versions=False, time_limit_min=0)
    assert limits == [20 * 60, 150, None]


@pytest.mark.parametrize("minutes", [-1, float("nan"), float("inf"), "20", True])
def test_a_bad_time_limit_is_refused(minutes):
    with pytest.raises(BadParameter, match=r"^--time-limit must be a number of minutes, at least 0 \(0: no limit\), "
                                           r"not "):
        engine_build.check_time_limit(minutes, "ice40", "--time-limit")
    assert engine_build.check_time_limit(None, "ecp5") == 3600 and engine_build.check_time_limit(0, "ice40") is None


class _NoLegalPlacement:
    """A build plan whose "nextpnr" packs the design into 90 % of the UP5K and then finds no legal
    placement, as nextpnr-ice40 0.11 did with the iCEBreaker 8x2 broadcast engine on seed 1."""

    def extract(self, out):
        (Path(out) / "build_top.sh").write_text(
            "printf 'Info: Device utilisation:\\nInfo: \\t         ICESTORM_LC:  4731/  5280    89%%\\n"
            "ERROR: Unable to find legal placement for all cells, design is probably at utilisation limit.\\n'"
            " > top.tim\nexit 1\n")


def test_no_legal_placement_within_the_device_is_a_placers_verdict_that_a_seed_search_moves_past(tmp_path):
    b = board_by_name("icebreaker")
    with pytest.raises(PlacementGaveUp, match=r"no legal placement with 4731 of its 5280 ICESTORM_LC in use \(90 %\), "
                                              r"the utilisation limit \(another nextpnr seed may place it"):
        build_module.execute_plan(_NoLegalPlacement(), b, tmp_path, "top", "key", dict(os.environ), lambda msg: None)
    # kept, and reused as the same verdict
    assert json.loads((tmp_path / "does_not_fit.json").read_text())["gave_up"] is True
    with pytest.raises(PlacementGaveUp, match="no legal placement with 4731"):
        build_module.reuse_record(b, tmp_path, "key", lambda msg: None)
