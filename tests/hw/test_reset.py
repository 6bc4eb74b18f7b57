"""``ResetTree`` (hw.reset) on its own: its shape, and the timing of its leaves and ``o_quiet``."""
import pytest
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.sim import Simulator

from adderhw.hw.reset import DEPTH, GROUP_COLS, RESET_CYCLES, ResetTree


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 5), (8, 9)])
def test_the_tree_has_a_register_per_row_and_a_leaf_per_four_pes_of_a_row(rows, cols):
    tree = ResetTree(rows, cols)
    Simulator(tree)                         # elaborates it
    assert len(tree.level2) == rows + 2
    groups = -(-cols // GROUP_COLS)
    assert len(tree.leaves) == rows * groups + cols + 2


@pytest.mark.parametrize("pulse", [1, 2, 5])
def test_leaves_follow_the_reset_three_cycles_late_and_quiet_covers_them(pulse):
    # a reset of ``pulse`` cycles starting in cycle 6 (through ResetInserter, as the array is reset by
    # hw.link); every leaf must be high exactly in cycles 6 + DEPTH .. 6 + pulse - 1 + DEPTH, and
    # o_quiet from 7 to the leaves' last cycle, besides the first cycles after configuration
    rows, cols = 3, 6
    tree = ResetTree(rows, cols)
    rst = Signal()
    top = Module()
    top.submodules.tree = ResetInserter(rst)(tree)
    trace = []

    async def testbench(ctx):
        for cycle in range(20):
            ctx.set(rst, 6 <= cycle < 6 + pulse)
            leaves = [ctx.get(tree.o_pe[r][c]) for r in range(rows) for c in range(cols)]
            leaves += [ctx.get(tree.o_col[c]) for c in range(cols)] + [ctx.get(tree.o_core), ctx.get(tree.o_drain)]
            trace.append((set(leaves), ctx.get(tree.o_quiet)))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    first, last = 6 + DEPTH, 6 + pulse - 1 + DEPTH
    for cycle, (leaves, quiet) in enumerate(trace):
        in_reset = cycle < DEPTH or first <= cycle <= last        # init values: reset after configuration
        assert leaves == {int(in_reset)}, cycle                    # all leaves agree, every cycle
        assert quiet == int(cycle < RESET_CYCLES or 7 <= cycle <= last), cycle


@pytest.mark.parametrize("cfg", [dict(rows=3, cols=5, width=4, k_max=8),
                                 dict(rows=6, cols=9, width=8, k_max=8, pe="mac", mul_stages=2)],
                         ids=["sad-3x5", "mac-6x9"])
def test_the_domain_reset_reaches_two_one_bit_cells_of_the_array_and_nothing_else(cfg):
    # hw.reset: "the domain reset reaches two registers (root and quiet)"; every other register of
    # the array is cleared by a leaf of the tree. Counted in the array's netlist after Yosys's proc.
    import re

    from adderhw.hw import ArrayConfig, SystolicArray
    from tests.hw.netlist import netlist_cells
    cells = netlist_cells(SystolicArray(ArrayConfig(**cfg)), passes="proc\nflatten\nopt")
    # the readers: quiet's synchronous reset, and the 1-bit select in front of the root (reset ? 1 : 0)
    readers = [(kind, body) for kind, body in cells if re.search(r"connect \\\w+ \\rst\n", body)]
    assert readers and len(readers) <= 2, readers
    for kind, body in readers:
        assert re.search(r"parameter \\WIDTH 1\n", body), (kind, body)
