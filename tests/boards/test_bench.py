"""The per-PE cost benchmark against its committed baseline (real iCE40 builds)."""
import json
from pathlib import Path

import pytest

from adderhw.boards.bench import bench_pe, check_baseline

pytestmark = [pytest.mark.boards, pytest.mark.slow]

BASELINE = json.loads(Path(__file__).with_name("baselines").joinpath("bench_pe.json").read_text())


def test_ice40_pe_cost_stays_within_the_baseline(tmp_path):
    # the iCE40 rows of the headline table, rebuilt: a PE that grows (or a clock that drops) fails
    # here; the ECP5 rows are guarded by the same file through `adderhw bench pe --baseline`
    r = bench_pe(boards=("icebreaker",), sizes=tuple(BASELINE["sizes"]), width=BASELINE["width"],
                 k_max=BASELINE["k_max"], seed=BASELINE["seed"], out_dir=tmp_path, jobs=2)
    rows = {x["variant"]: x for x in r["rows"]}
    assert set(rows) == {"sad", "mac", "mac+dsp"}
    assert check_baseline(r, BASELINE) == []

