"""The engine behind its UART link as a board bitstream (small configurations, so CI stays fast),
and the command-line refusals of the engine build and the board comparison."""
import json
import subprocess
import sys

import pytest

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.boards.engine_build import build_engine_board
from adderhw.boards.engine_compare import parse_sizes
from adderhw.boards.engine_top import oscillator_hz
from adderhw.boards.platforms import board as board_by_name

TINY = EngineConfig(array=ArrayConfig(rows=1, cols=2, width=8, k_max=16, pe="sad"), mac_rows=1, act_depth=64,
                    weight_depth=64, const_depth=16, max_layers=4)


@pytest.mark.boards
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_a_tiny_engine_builds_a_bitstream_with_its_memories_in_block_ram(board, tmp_path):
    r = build_engine_board(board, TINY, cycles_per_image=1000, out_dir=tmp_path, versions=False)
    assert json.loads((tmp_path / "report.json").read_text()) == r
    assert r["bitstream"] and (tmp_path / r["bitstream"]).stat().st_size > 10_000
    # iCE40: the two activation buffers, weights, constants, descriptors and the frame buffer each
    # take an EBR; ECP5 puts memories this small in LUT RAM, all but the largest
    assert r["bram"]["used"] >= (5 if board == "icebreaker" else 1)
    assert 0 < r["logic"]["used"] < r["logic"]["available"] and r["luts"] > 0 and r["ffs"] > 0
    clk = oscillator_hz(board_by_name(board).platform_class()) / 1e6
    assert r["clock_mhz"] == clk and r["timing_met"] == (r["fmax_mhz"] >= clk)
    assert r["images_per_s_at_fmax"] == pytest.approx(r["fmax_mhz"] * 1e6 / 1000)
    assert r["dsp"]["used"] > 0            # the post-processing's and the MAC array's multipliers


def test_the_engine_build_refuses_a_baud_rate_the_board_clock_cannot_make(tmp_path):
    with pytest.raises(BadParameter, match="baud must be a rate a 12000000 Hz clock makes"):
        build_engine_board("icebreaker", TINY, cycles_per_image=1000, baud=5_000_000, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())              # refused before any work


def test_sizes_parse_and_refuse():
    assert parse_sizes("icebreaker:2x2+1,ulx3s-85f:8x8,ulx3s-85f:4X4+2") == \
        {"icebreaker": [(2, 2, 1)], "ulx3s-85f": [(8, 8, None), (4, 4, 2)]}
    for bad in ("icebreaker", "hx8k:2x2", "icebreaker:2x0", "icebreaker:2by2", "icebreaker:2x2+0", "icebreaker:2x2+a"):
        with pytest.raises(BadParameter, match="--sizes"):
            parse_sizes(bad)


@pytest.mark.parametrize("argv,message", [
    (["build", "--board", "icebreaker", "--top", "engine", "--freq", "50", "--out", "{tmp}"],
     "--freq 50 does not apply to --top engine"),
    (["build", "--board", "hx8k", "--top", "engine", "--out", "{tmp}"], "board must be one of icebreaker, ulx3s-85f"),
    (["build", "--board", "icebreaker", "--top", "chip", "--out", "{tmp}"], "--top must be array or engine"),
    (["compare-boards", "--sizes", "icebreaker:2", "--out", "{tmp}"], "--sizes must be board:RxC"),
    (["run", "--port", "sim", "--images", "0"], "images must be"),
    (["run", "--port", "sim", "--network", "cifar"], "network must be one of digits, mnist"),
])
def test_cli_refusals_are_one_sentence_without_a_traceback(argv, message, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path / "o")) for a in argv]
    p = subprocess.run([sys.executable, "-m", "adderhw", *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr
