"""``ResetTree``: the array's synchronous reset, carried to its registers through a tree of
flip-flops, so that no reset net fans out over the whole array.

Why. The array's valid/last flags and accumulators were reset straight from the domain reset: one
net with a few loads in every PE, which FPGA placers route as an ordinary net. On the ECP5-85F it
was the whole critical path of the 27x28 SAD array, 9.17 ns of routing in 10.12 ns from the
power-on reset register (98.9 MHz, a 100 MHz probe of the iso-area sweep missed by it alone).

Structure. Every path from the domain reset to a leaf has exactly ``DEPTH`` = 3 registers:

  * ``root``: one register that any reset of the domain sets (it has a reset, init 1, and loads 0
    otherwise), so that ``ResetInserter`` (hw.link resets a hung engine that way) reaches the tree
    as the domain reset does. Loads: R + 2 level-2 registers.
  * level 2: one register per row (``row2[r]``), one for the input side (``top2``), one for the
    drain (``drain2``).
  * level 3, the leaves: one per row and group of ``GROUP_COLS`` = 4 columns (``o_pe[r][c]``: the
    flags and accumulators of four PEs; in row 0 also their columns' registers of the valid/last
    chain along the top edge); one per column for the drain's column controller (``o_col[c]``);
    one for the input join and ``busy`` (``o_core``) and one for the drain's central controller
    (``o_drain``).

Fan-outs: the domain reset reaches two registers (``root`` and ``quiet``); ``root`` R + 2;
``row2[r]`` ceil(C / 4); ``top2`` 1 and ``drain2`` C + 1; a PE leaf the flags and accumulators
of at most four neighbouring PEs. None grows with R x C. Every register of the tree carries
``keep``: Yosys's ``opt_merge`` would otherwise merge the identical copies back into one net
(the board builds keep kept flip-flops, see hw/drain.py).

Behaviour. Every leaf is the domain reset delayed by exactly 3 cycles, so all of the array's
registers see one reset, the same everywhere, 3 cycles late: the array behaves exactly as if its
reset had come 3 cycles later. Meanwhile its ports must stay silent, or a beat accepted in those
cycles would be lost to the late reset. ``o_quiet`` (a register) is high from the cycle after the
domain reset rises to the last cycle of the delayed reset: for a reset high in cycles t0 .. t1 - 1,
cycles t0 + 1 .. t1 + 2. The array holds its input ``ready``, ``o_sum.valid`` and ``o_busy`` low
while it is high, so after a reset it first accepts input ``RESET_CYCLES`` = 3 cycles after the
domain reset falls (the cycle model counts from there, see golden.cycles). The init values (all
1) make a freshly configured array quiet and in reset for its first 3 cycles, reset or not.

Members
-------
o_quiet : Out(1)                        the ports must stay silent in this cycle
o_core : Out(1)                         reset of the input join and ``busy``
o_drain : Out(1)                        reset of the drain's central controller
o_col : Out(cols)                       o_col[c]: reset of the drain's column-c controller
o_pe : Out(ArrayLayout(cols, rows))     o_pe[r][c]: reset of PE(r, c)'s flags and accumulator

After elaboration ``root``, ``level2`` (every level-2 register) and ``leaves`` (every leaf) name the
tree's registers, and ``quiet`` the register behind ``o_quiet``; the formal spec
(``hw.array_spec``) states their values.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from adderhw.base.validate import check_int

__all__ = ["ResetTree", "clear_on", "DEPTH", "RESET_CYCLES", "GROUP_COLS"]

#: registers from the domain reset to every leaf
DEPTH = 3
#: cycles from the fall of the domain reset to the first cycle the array may accept input
RESET_CYCLES = DEPTH
#: PEs of a row driven by one leaf
GROUP_COLS = 4


def clear_on(m, rst, registers):
    """Set ``registers`` (which must be ``reset_less``, so that the domain reset does not reach
    them) to their init values at the end of every cycle in which ``rst`` is high. Call it after
    the registers' other assignments: in Amaranth the later assignment wins."""
    with m.If(rst):
        m.d.sync += [r.eq(r.init) for r in registers]


class ResetTree(wiring.Component):
    def __init__(self, rows, cols):
        self.rows = check_int("rows", rows, lo=1)
        self.cols = check_int("cols", cols, lo=1)
        super().__init__({
            "o_quiet": Out(1), "o_core": Out(1), "o_drain": Out(1),
            "o_col": Out(cols),
            "o_pe": Out(data.ArrayLayout(cols, rows)),
        })

    def elaborate(self, platform):
        m = Module()
        R, C = self.rows, self.cols

        def copy(name, source):
            reg = Signal(name=name, init=1, reset_less=True, attrs={"keep": 1})
            m.d.sync += reg.eq(source)
            return reg

        root = Signal(name="root", init=1, attrs={"keep": 1})     # 1 in the cycle after any reset
        m.d.sync += root.eq(0)
        row2 = [copy(f"row2_{r}", root) for r in range(R)]
        top2, drain2 = copy("top2", root), copy("drain2", root)
        # quiet: high in the cycle after a reset and while any register of the tree holds it,
        # that is one cycle after (reset | root | level 2); being reset itself, it also rises with
        # any inserted reset
        quiet = Signal(name="quiet", init=1, attrs={"keep": 1})
        m.d.sync += quiet.eq(root | top2)

        groups = -(-C // GROUP_COLS)
        pe = [[copy(f"pe3_{r}_{g}", row2[r]) for g in range(groups)] for r in range(R)]
        col = [copy(f"col3_{c}", drain2) for c in range(C)]
        core, drain = copy("core3", top2), copy("drain3", drain2)

        m.d.comb += [self.o_quiet.eq(quiet), self.o_core.eq(core), self.o_drain.eq(drain)]
        for c in range(C):
            m.d.comb += self.o_col[c].eq(col[c])
            for r in range(R):
                m.d.comb += self.o_pe[r][c].eq(pe[r][c // GROUP_COLS])

        self.root, self.quiet = root, quiet
        self.level2 = [*row2, top2, drain2]
        self.leaves = [*(g for row in pe for g in row), *col, core, drain]
        return m
