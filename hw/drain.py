"""``DrainControl``: empties the array's result registers through the ``o_sum`` stream with
local wiring only.

Why a shift chain. The first drain read row ``r`` of every column through an R:1 multiplexer whose
select register fanned out across the whole array; at 17x18 on the ECP5-85F, 13.1 ns of the
14.6 ns critical path was that routing, and large arrays lost half their clock. Here each column's
result registers (the second buffer of each PE's double-buffered accumulator) form a shift chain
toward row 0: when a tile is complete, every cycle that the column shifts, row 0's value leaves
the column and each register takes the value of the one below. Every result register talks only
to its neighbour below; nothing reaches across the array. A pipelined multiplexer tree with
registered selects (the other way out) would need a register per tree node, about one more
accumulator-wide register per PE, and flip-flops already bound the iCE40 arrays; the chain reuses
the result registers and adds one 2:1 multiplexer per bit in front of them.

The cost is latency: a chain can only start once its column is complete (the capture wave reaches
row R-1 R-1 cycles after row 0), so the drain starts R cycles later than a multiplexer's would and
G, the gap between two tiles' last beats that hides the drain, grows from R + C + S - 1 to
2R + C + S - 1 (``golden.cycles.drain_gap``).

Control, and what it fans out to:
  * ``i_start`` is the capture pulse of PE(R-1, C-1), the last result register of a tile to be
    written: from the next cycle the whole tile is in the chains.
  * One central counter (rows left in the chains) and a 2-entry output FIFO decide, one cycle
    ahead, whether the chains shift in the next cycle; that decision is registered once per column
    (``o_shift[c]``), so each register drives the R result registers of one column, and the
    decision logic drives C registers. ``o_sum.ready`` reaches only this controller.
  * The per-column copies carry ``keep`` on their wires. Yosys's ``opt_merge`` merges identical
    flip-flops regardless, which would turn the C copies back into one register driving every
    result register; adderhw's board builds therefore run ``setattr -set keep 1 a:keep %ci1 t:$dff
    %i`` after ``proc`` (boards/build.py). Users synthesising the Verilog with Yosys need the same
    line; at 16x16 on the ECP5-85F the merged register was the critical path.
  * The FIFO takes row 0 of every column when the chains shift and offers it on ``o_sum``; it
    holds its head until accepted (the stream rule). Two entries are enough for full throughput
    with the one-cycle decision: a row is pushed only when the FIFO will have room for it.

Timing (no stalls): if PE(R-1, C-1) captures in cycle t, the chains shift in cycles t+1 .. t+R
and row r is offered in cycle t + 2 + r. ``o_done`` pulses in the cycle the tile's last row is
accepted.

Members
-------
i_start : In(1)                       the tile is complete (capture of PE(R-1, C-1))
i_head : In(ArrayLayout(acc, cols))   row 0 of every column's chain
o_shift : Out(cols)                   column c shifts its chain at the end of this cycle
o_sum : Out(stream.Signature({data: ArrayLayout(acc, cols), last: 1}))
o_done : Out(1)                       the tile's last row is accepted in this cycle

After elaboration, ``left``, ``occ``, ``row``, ``go``, ``go_col`` and ``skid`` name the registers
above (not ports); the formal spec (``hw.array_spec``) states its invariants over them.
"""
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from adderhw.base.config import check_config

from .mutation import mutation
from .pe import acc_shape

__all__ = ["DrainControl", "FIFO_DEPTH"]

#: entries of the output FIFO (see the module docstring for why two suffice)
FIFO_DEPTH = 2


class DrainControl(wiring.Component):
    def __init__(self, config):
        self.config = check_config(config)
        row = data.ArrayLayout(acc_shape(config), config.cols)
        super().__init__({
            "i_start": In(1),
            "i_head": In(row),
            "o_shift": Out(config.cols),
            "o_sum": Out(stream.Signature(data.StructLayout({"data": row, "last": 1}))),
            "o_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        R, C = self.config.rows, self.config.cols
        layout = self.o_sum.payload.shape()

        # -- the output FIFO, two entries: ``head`` (offered on o_sum) and ``skid`` behind it.
        # ``occ`` counts the rows held (0..2). The head takes a new value whenever it is free or
        # being accepted, so o_sum.ready drives only the head's enable (one gate), and the skid
        # takes every pushed row (it matters only when the head stays occupied).
        head = Signal(layout, name="head", reset_less=True)       # occ says whether it holds a row
        skid = Signal(layout, name="skid", reset_less=True)
        occ = Signal(range(FIFO_DEPTH + 1))
        pop = Signal()
        m.d.comb += [self.o_sum.valid.eq(occ != 0), self.o_sum.payload.eq(head),
                     pop.eq(self.o_sum.valid & self.o_sum.ready)]

        # -- the shift decision, made one cycle ahead and registered per column
        go = Signal()                       # the central copy of o_shift[c]: the chains shift now
        # one register per column; ``keep`` stops Yosys from merging the identical copies back into
        # one register that would drive every result register of the array
        go_col = [Signal(name=f"go_col{c}", attrs={"keep": 1}) for c in range(C)]
        left = Signal(range(R + 1))         # rows of the current tile still in the chains
        row = Signal(range(max(R, 2)))      # row index of the next row pushed into the FIFO
        shift = Cat(*go_col)
        if mutation("drain-skips-row"):     # MUTATION (hw.mutation): an extra shift as the drain starts
            shift = shift | self.i_start.replicate(C)
        m.d.comb += self.o_shift.eq(shift)

        push = go                           # a shift moves row 0 of every chain into the FIFO
        word = Signal(layout)
        m.d.comb += [word.data.eq(self.i_head), word.last.eq(row == R - 1)]

        occ_next = Signal(range(FIFO_DEPTH + 2))
        m.d.comb += occ_next.eq(occ + push - pop)
        left_next = Signal(range(R + 1))
        with m.If(self.i_start):
            m.d.comb += left_next.eq(R)
        with m.Else():
            m.d.comb += left_next.eq(left - push)
        go_next = Signal()
        # a row is pushed only into a FIFO that will have room for it: never with occ = 2
        m.d.comb += go_next.eq((left_next != 0) & (occ_next < FIFO_DEPTH))
        m.d.sync += [go.eq(go_next), *(g.eq(go_next) for g in go_col), left.eq(left_next), occ.eq(occ_next)]

        with m.If(push):
            m.d.sync += [row.eq(Mux(row == R - 1, 0, row + 1)), skid.eq(word)]
        with m.If(~self.o_sum.valid | self.o_sum.ready):
            m.d.sync += head.eq(Mux(occ == FIFO_DEPTH, skid, word))

        m.d.comb += self.o_done.eq(pop & head.last)
        self.left, self.occ, self.row, self.go, self.go_col, self.skid = left, occ, row, go, go_col, skid
        return m
