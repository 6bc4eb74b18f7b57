"""The largest-engine search of boards.engine_compare: its doubling, halving and fine stages against
brute force on synthetic devices (no board build runs: a stand-in says which arrays fit), and the
report of what it did."""
import pytest

from adderhw.base.errors import BadParameter
from adderhw.board_reports import format_compare_largest
from adderhw.boards import engine_compare
from adderhw.boards.engine_compare import FINE_ASPECT, MAX_FINE_PROBES, fine_shapes, largest_fitting, search_largest


def _device(pes, max_cols=None):
    """A device that fits an array of at most ``pes`` PEs and (if given) ``max_cols`` columns: the
    logic bound and a per-column one (banks, post-processing lanes)."""
    return lambda rows, cols: rows * cols <= pes and (max_cols is None or cols <= max_cols)


def _stub(monkeypatch, fits):
    """Replace the engine build by ``fits(rows, cols)``; returns the (rows, cols) asked for, in order."""
    asked = []

    def build(board, network, pe, rows, cols, mac_rows, dsp, seed, out, progress, first_last="mul", requant="mul",
              breakdown=False, placer=None, router=None, post_lanes=0, dataflow="systolic"):
        asked.append((rows, cols))
        ok = fits(rows, cols)
        return {"rows": rows, "cols": cols, "fits": ok, "reason": "" if ok else "too big", "engine": f"{rows}x{cols}",
                "luts": 100 * rows * cols, "logic": {"used": 100 * rows * cols, "available": 100_000},
                "dsp": {"used": 0, "available": 8}, "bram": {"used": 1, "available": 30}, "fmax_mhz": 50.0,
                "cycles_per_image": 1000.0, "images_per_s_at_fmax": 1000.0 * rows * cols}
    monkeypatch.setattr(engine_compare, "build_one", build)
    return asked


def _bracket(fits, start, max_pes):
    """Brute force over the doubling (or halving) probes: (PEs of the largest that fits, PEs of the
    smallest that does not, or max_pes + 1), or None when nothing fits."""
    seq = [(1, 1)] + [(1 << (i // 2), 1 << ((i + 1) // 2)) for i in range(1, 24)]
    s0 = start[0] * start[1]
    if fits(*start):
        up = [rc for rc in seq if rc[0] * rc[1] > s0 and rc[0] * rc[1] <= max_pes]
        lo, hi = s0, max_pes + 1
        for rc in up:
            if not fits(*rc):
                hi = rc[0] * rc[1]
                break
            lo = rc[0] * rc[1]
        return lo, hi
    down = [rc for rc in reversed(seq) if rc[0] * rc[1] < s0]
    hi = s0
    for rc in down:
        if fits(*rc):
            return rc[0] * rc[1], hi
        hi = rc[0] * rc[1]
    return None


def _true_largest(fits, lo, max_pes, aspect=FINE_ASPECT):
    """Brute force: the most PEs of an array that fits, with lo <= PEs <= max_pes and neither side
    more than ``aspect`` times the other (or lo, the doubling's largest)."""
    shapes = [(r, c) for r in range(1, max_pes + 1) for c in range(1, max_pes // r + 1)
              if lo <= r * c and max(r, c) <= aspect * min(r, c)]
    return max((r * c for r, c in shapes if fits(r, c)), default=lo)


def test_the_fine_shapes_are_every_array_of_the_bracket_within_the_aspect():
    for lo, hi in ((1, 2), (2, 4), (4, 8), (32, 64), (128, 257)):
        want = {(r, c) for r in range(1, hi) for c in range(1, hi)
                if lo < r * c < hi and max(r, c) <= FINE_ASPECT * min(r, c)}
        got = fine_shapes(lo, hi)
        assert set(got) == want and len(got) == len(want)
        assert [r * c for r, c in got] == sorted(r * c for r, c in got)
    assert fine_shapes(4, 8) == [(3, 2), (2, 3)] and fine_shapes(1, 2) == [] and fine_shapes(2, 4) == []


CASES = [(pes, cols, start, max_pes)
         for pes in (1, 3, 5, 12, 20, 27, 40, 47, 63, 90, 130, 200, 300)
         for cols in (None, 3, 5, 7, 11, 16)
         for start, max_pes in (((1, 2), 512), ((8, 8), 512), ((1, 1), 100), ((4, 4), 48))
         if start[0] * start[1] <= max_pes]


@pytest.mark.parametrize("aspect", [FINE_ASPECT, 4])
@pytest.mark.parametrize("pes,max_cols,start,max_pes", CASES)
def test_without_a_bound_the_fine_stage_finds_the_largest_array_of_the_bracket(monkeypatch, pes, max_cols, start,
                                                                               max_pes, aspect):
    fits = _device(pes, max_cols)
    asked = _stub(monkeypatch, fits)
    res = largest_fitting("icebreaker", "digits", "sad", start, max_pes=max_pes, progress=lambda m: None,
                          max_fine_probes=1000, aspect=aspect)
    bracket = _bracket(fits, start, max_pes)
    if bracket is None:
        assert res["largest"] is None and res["limit"] == "no array fits" and res["fine"] is None
        return
    lo, hi = bracket
    best = res["largest"]
    assert best["fits"] and best["rows"] * best["cols"] == _true_largest(fits, lo, max_pes, aspect)
    assert best["rows"] * best["cols"] <= max_pes and all(r * c <= max_pes for r, c in asked)
    assert len(asked) == len(set(asked))                           # no array built twice
    assert res["fine"]["bracket_pes"] == [lo, hi] and res["fine"]["exact"] and res["fine"]["open"] == []
    fine = [p for p in res["probes"] if p["stage"] == "fine"]
    assert len(fine) == res["fine"]["probes"]
    # the fine probes lie above the doubling's largest, within max_pes and the aspect, and no failure
    # before a probe had at most its PEs and at most its columns (beyond the bracket: fewer columns)
    assert all(lo < p["rows"] * p["cols"] <= max_pes and max(p["rows"], p["cols"]) <= aspect *
               min(p["rows"], p["cols"]) for p in fine)
    for p in fine:
        before = [f for f in res["probes"] if not f["fits"] and f["probe"] < p["probe"]]
        assert not any(f["rows"] * f["cols"] <= p["rows"] * p["cols"] and f["cols"] <= p["cols"] for f in before)
    # every probe is reported once, with its stage and build order
    assert sorted((p["rows"], p["cols"]) for p in res["probes"]) == sorted(asked)
    assert sorted(p["probe"] for p in res["probes"]) == list(range(1, len(asked) + 1))
    assert [(p["rows"], p["cols"]) for p in sorted(res["probes"], key=lambda p: p["probe"])] == asked


@pytest.mark.parametrize("pes,max_cols,start,max_pes", CASES)
def test_the_fine_stage_keeps_to_its_bound_and_says_what_it_left(monkeypatch, pes, max_cols, start, max_pes):
    fits = _device(pes, max_cols)
    asked = _stub(monkeypatch, fits)
    res = largest_fitting("icebreaker", "digits", "sad", start, max_pes=max_pes, progress=lambda m: None)
    if res["largest"] is None:
        return
    record = res["fine"]
    assert record["max_probes"] == MAX_FINE_PROBES and record["probes"] <= MAX_FINE_PROBES
    assert record["probes"] == sum(p["stage"] == "fine" for p in res["probes"])
    assert len(asked) == len(set(asked))
    lo, hi = record["bracket_pes"]
    best = res["largest"]["rows"] * res["largest"]["cols"]
    if record["exact"]:
        assert best == _true_largest(fits, lo, max_pes)
    else:
        # stopped at the bound: every array it did not try and could not rule out is named, and
        # the true answer is among them
        assert record["probes"] == MAX_FINE_PROBES and record["open"]
        assert all(r * c > best for r, c in record["open"])
        assert _true_largest(fits, lo, max_pes) in {best} | {r * c for r, c in record["open"] if fits(r, c)}
        assert f"stopped at its bound of {MAX_FINE_PROBES} probes with {len(record['open'])} shape" in res["limit"]


def test_a_bound_of_one_probe_is_kept(monkeypatch):
    asked = _stub(monkeypatch, _device(40))
    res = largest_fitting("ulx3s-85f", "digits", "sad", (4, 4), max_pes=512, progress=lambda m: None,
                          max_fine_probes=1)
    assert asked[:3] == [(4, 4), (4, 8), (8, 8)] and len(asked) == 4
    assert res["fine"]["probes"] == 1 and not res["fine"]["exact"]
    assert res["limit"].startswith("8x8 does not fit; the fine stage stopped at its bound of 1 probe with ")


def test_the_search_shrinks_from_a_start_that_does_not_fit_then_refines(monkeypatch):
    asked = _stub(monkeypatch, _device(40, max_cols=6))
    res = largest_fitting("ulx3s-85f", "digits", "sad", (16, 16), max_pes=512, progress=lambda m: None)
    # 16x16, then 8x16 and 8x8 fail (too many PEs, too many columns) and 4x8 does too (8 columns);
    # 4x4 fits. 4x8's failure rules out no array with fewer columns, so the fine stage looks beyond
    # 32 PEs too: the largest with at most 6 columns and neither side more than twice the other is
    # 8x5 = 40 (before the fine stage looked past the bracket, the search answered 5x6 = 30)
    assert asked[:5] == [(16, 16), (8, 16), (8, 8), (4, 8), (4, 4)]
    stages = {(p["rows"], p["cols"]): p["stage"] for p in res["probes"]}
    assert stages[(16, 16)] == "start" and stages[(4, 4)] == "halving" and stages[(8, 8)] == "halving"
    assert (res["largest"]["rows"], res["largest"]["cols"]) == (8, 5)
    assert res["fine"]["bracket_pes"] == [16, 32] and res["fine"]["exact"] and res["fine"]["beyond_bracket"] > 0
    assert res["limit"] == ("16x16 does not fit, nor does 4x8; 8x5 is the largest array of 17 to 512 PEs with "
                            f"neither side more than 2 times the other that fits (fine stage: {res['fine']['probes']} "
                            "probes)")


def test_a_failure_leaves_open_the_arrays_with_fewer_columns():
    # a device whose columns run out first (as the iCEBreaker's broadcast engines do: 8x2 places,
    # 4x4 does not): 2x4 fails, and the arrays of 8 PEs or more with fewer columns stay open; how far
    # the fine stage reaches is its aspect
    narrow = lambda s, stage: s[0] * s[1] <= 16 and s[1] <= 2          # noqa: E731
    found = search_largest(narrow, (1, 1), 512)
    assert found["largest"] == (4, 2) and found["fine"]["exact"]
    wide = search_largest(narrow, (1, 1), 512, aspect=4)
    assert wide["largest"] == (8, 2) and wide["fine"]["exact"] and wide["fine"]["aspect"] == 4
    assert wide["fine"]["bracket_pes"] == [4, 8] and wide["fine"]["beyond_bracket"] == 15
    assert wide["limit"] == ("2x4 does not fit; 8x2 is the largest array of 5 to 512 PEs with neither side more "
                             "than 4 times the other that fits (fine stage: 4 probes)")
    with pytest.raises(BadParameter, match=r"^aspect must be an integer of at least 1, not 0$"):
        search_largest(narrow, (1, 1), 512, aspect=0)


def test_the_fine_stage_stays_within_max_pes(monkeypatch):
    asked = _stub(monkeypatch, _device(1000))
    res = largest_fitting("ulx3s-85f", "digits", "sad", (8, 8), max_pes=100, progress=lambda m: None,
                          max_fine_probes=100)
    assert max(r * c for r, c in asked) == 100 and (res["largest"]["rows"], res["largest"]["cols"]) == (10, 10)
    assert res["fine"]["bracket_pes"] == [64, 101]
    n = res["fine"]["probes"]
    assert n == 4                  # a bisection over the 14 PE counts from 65 to 100 of arrays within 2:1
    assert res["limit"] == ("the next probe (8x16) would exceed max_pes=100; 10x10 is the largest array of 65 to "
                            f"100 PEs with neither side more than 2 times the other that fits (fine stage: {n} probes)")


def test_no_fine_stage_builds_only_the_doubling(monkeypatch):
    asked = _stub(monkeypatch, _device(100))
    res = largest_fitting("ulx3s-85f", "digits", "sad", (8, 8), progress=lambda m: None, fine=False)
    assert asked == [(8, 8), (8, 16)] and res["fine"] is None and res["limit"] == "8x16 does not fit"


def test_an_empty_bracket_has_no_fine_probe():
    seen = []
    found = search_largest(lambda s, stage: seen.append((s, stage)) or s == (1, 1), (1, 1), 64)
    # nothing lies between 1 and 2 PEs, but 1x2's failure leaves 2x1 (fewer columns) open
    assert seen == [((1, 1), "start"), ((1, 2), "doubling"), ((2, 1), "fine")]
    assert found == {"largest": (1, 1), "limit": "1x2 does not fit; no array of 2 to 64 PEs with neither side more "
                                                 "than 2 times the other fits (fine stage: 1 probe)", "fine": {
        "bracket_pes": [1, 2], "aspect": 2, "candidates": 1, "beyond_bracket": 1, "probes": 1,
        "max_probes": MAX_FINE_PROBES, "exact": True, "open": []}}
    found = search_largest(lambda s, stage: s[0] * s[1] <= 2, (1, 1), 64)
    assert found["limit"] == "2x2 does not fit; no array of 3 to 64 PEs with neither side more than 2 times the " \
                             "other is left open: no fine stage"


def test_the_search_refuses_bad_bounds(monkeypatch):
    _stub(monkeypatch, _device(40))
    with pytest.raises(BadParameter, match=r"^max_fine_probes must be an integer of at least 1, not 0$"):
        largest_fitting("ulx3s-85f", "digits", "sad", (8, 8), progress=lambda m: None, max_fine_probes=0)
    with pytest.raises(BadParameter, match=r"^max_pes must be at least the starting array's 64 PEs, not 16$"):
        search_largest(lambda s, stage: True, (8, 8), 16)


def test_the_report_says_which_stage_each_probe_belongs_to_and_what_the_search_did(monkeypatch):
    _stub(monkeypatch, _device(40))
    res = engine_compare.compare_largest(starts={"ulx3s-85f": (8, 8)}, max_pes=256, progress=lambda m: None)
    assert (res["fine"], res["max_fine_probes"], res["placer"], res["router"]) == (True, 6, "heap", "router1")
    md = format_compare_largest(res)
    assert "A fine stage then searches the arrays with more PEs than the largest that fit, up to 256 PEs, of any " \
           "rows and columns, neither more than 2 times the other. It bisects on PEs, at most 6 probes per kind " \
           "and board" in md
    assert "beyond the smallest failure only arrays with fewer columns stay open" in md
    assert "| ulx3s-85f | AdderNet | 8x8 | 64 | start | no |" in md
    assert "| ulx3s-85f | AdderNet | 4x8 | 32 | halving | yes | 3,200 | 50.0 | 32,000 |  |" in md
    entry, = res["boards"]
    for pe in ("sad", "mac"):
        best = entry[pe]["largest"]
        assert best["rows"] * best["cols"] == 40 and best["stage"] == "fine"
        assert f"| ulx3s-85f | {'AdderNet' if pe == 'sad' else 'CNN twin'} | {best['rows']}x{best['cols']} | 40 | " \
               "fine | yes |" in md
    # a result written before the fine stage existed is described as what it was
    old = {k: v for k, v in res.items() if k not in ("fine", "max_fine_probes", "placer", "router")}
    assert "(no fine stage)" in format_compare_largest(old)


def test_a_start_that_is_not_square_doubles_and_halves_its_pes(monkeypatch):
    # from 4x3 (12 PEs) the doubling goes 4x6, 8x6, and the halving 2x3, 2x1: never back to fewer PEs
    asked = _stub(monkeypatch, lambda r, c: r * c <= 40)
    largest_fitting("icebreaker", "digits", "sad", (4, 3), max_pes=512, fine=False, progress=lambda m: None)
    assert asked == [(4, 3), (4, 6), (8, 6)]
    asked = _stub(monkeypatch, lambda r, c: r * c <= 2)
    largest_fitting("icebreaker", "digits", "sad", (4, 3), max_pes=512, fine=False, progress=lambda m: None)
    assert asked == [(4, 3), (2, 3), (2, 1)]
