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
2R + C + S - 1 (``ArrayConfig.drain_gap``).

Control, and what it fans out to:
  * The drain starts (``start``) in the cycle in which PE(R-1, C-1), the last result register of a
    tile to be written, captures: from the next cycle the whole tile is in the chains. That pulse
    is not taken from PE(R-1, C-1) itself but from ``i_start``, the capture pulse of a PE that the
    capture wave reaches ``start_lead`` = min(3, R + C - 2) cycles earlier (one with
    r + c = R + C - 2 - start_lead), delayed through ``start_lead`` registers: the last stage once
    centrally (``start``) and once per column (``start_col[c]``), the one before it
    (``start_early``, when the lead is 2 or more) once centrally and once per group of
    ``GROUP_COLS`` = 4 columns (``start_early_grp[g]``, which also feeds its columns' ``many``),
    the first (``start_first``, when the lead is 3) once, beside the PE it comes from. With one
    ``start_early`` feeding all C column copies (2C + 2 loads), its wire to column 12 was the
    critical path of a 16x16 array on the ECP5-85F (4.43 ns of routing, 165 MHz on one seed). The
    group copies cut the fan-out to C / 4 + 1 but did not remove the long wire: the placer puts a
    group's copy between the far corner and its columns, and its wire into column 2's controller
    logic was 4.68 ns on another 16x16 seed (160.6 MHz). The start still comes from the far corner;
    taking it from the top row instead is noted in docs/history.md. A capture pulse is combinational
    from its PE's flags; routed from the
    array's far corner straight into every column's controller it was the critical path at 16x16
    on the ECP5-85F (5.38 ns of routing in 7.47 ns), and with one register per column the wire from
    the corner to the farthest column's register still was (3.64 ns of routing). With two stages,
    the corner's pulse ends at a flip-flop beside it and only a register-to-register wire crosses
    the array. The drain's latency and the cycle model do not change. Arrays with R + C < 4 have
    no PE far enough ahead, and no distance to cover: they use the lead they have (a 1x1 array
    uses PE(0, 0)'s capture directly).
  * A counter (rows left in the chains) and the occupancy of a 3-entry output FIFO decide, one
    cycle ahead, whether the chains shift in the next cycle. That decision never reads
    ``o_sum.ready``: a row is pushed only if the FIFO would have room for it even with no pop in
    this cycle or the next (occupancy + push <= 2 now). So the decision is a function of the
    controller's registers alone, and it can be registered in as many copies as its loads need:
    once per column and group of ``GROUP_ROWS`` = 4 rows (``o_shift[r][c]``, the register
    ``go_col[c][r // 4]``), each driving at most 4 x acc_width result-register bits, and group 0
    also the column's three FIFO entries. (With one copy per column, ``go_col[c]`` drove the
    column's R x acc_width bits down the whole column: at 16x16 on the ECP5-85F its wire to row 15
    was the critical path, 4.26 ns of routing in 7.24 ns. With a decision that read
    ``o_sum.ready``, ready -> decision -> ``go_col[c]`` was the other critical path: 3.4 ns of
    ready's wire, two LUTs, and 1.4 ns to the register pulled toward its loads.) The third entry
    is what the ready-free decision costs: with two, the rule "room even without a pop" would push
    only every other cycle.
  * The counter and the occupancy are kept once centrally (``left``, ``occ``, ``go``:
    ``o_sum.valid``, ``o_done``, the ``last`` flags) and once per column (``left_col[c]``,
    ``occ_col[c]``, ``go_ctl[c]``), beside the column's registers, each copy updated by the same
    rule from its copy of ``start``, ``o_sum.ready`` and its own state. So ``i_start`` and
    ``o_sum.ready`` each cross to a column once (the start as a register) and meet only local
    logic there; with one central copy driving the C decision registers, ready -> occ ->
    ``sel_col[c]`` crossed the array twice in one cycle and was the critical path at 16x16 on the
    ECP5-85F (8.14 ns, 6.9 ns of routing). A column's copy feeds back its own ``go_ctl[c]``, not
    a ``go_col`` register: those are pulled toward the result registers they enable, and feeding
    one back made go_col -> copy -> go_col the critical path at 8x8 (two wires, 6.79 ns).
    Fan-out of ``o_sum.ready`` and of the start grows with C, of each shift decision with R / 4.
  * The FIFO is per column too, so that ``o_sum.ready`` never reaches a data bit. Column c has
    three entries, ``e[0][c]``, ``e[1][c]`` and ``e[2][c]``, that shift on the same
    ``go_col[c][0]`` as its chain: a push moves e1 to e2, e0 to e1 and row 0 of the chain into e0.
    (The ``last`` flags of the entries shift alike on the central ``go``.) So the entries always
    hold the newest rows pushed, newest in e0; a pop removes the oldest row held, which is in
    e[occ - 1]. The entry offered on ``o_sum`` is therefore chosen by the occupancy, registered
    from the next occupancy as (occ == 2, occ == 3) once per column (``sel_col[c]``, which drives
    the acc_width 3:1 multiplexers of column c) and once centrally (``sel``, for ``last``).
    ``o_sum.ready`` reaches only the controller's copies (central and per column), their small
    registers and ``o_done``; the data registers are enabled by ``go_col`` alone.
  * Why not the obvious FIFO: a ``head`` register that is offered directly and reloads whenever
    it is free or accepted needs ``~o_sum.valid | o_sum.ready`` as the enable of every data bit,
    C x acc_width + 1 flip-flops along the array's top edge; at 16x16 on the ECP5-85F that net
    was the critical path (7.56 ns, 6.8 ns of it routing). Its enable cannot be registered, since
    a row accepted in this cycle must be replaced in this cycle. Here the enable is already a
    registered per-column signal, and the price is one 3:1 multiplexer per output bit, driven by a
    register, between the entries and ``o_sum.payload``.
  * The copies (``start_col``, ``go_col``, ``sel_col``) carry ``keep`` on their wires. Yosys's
    ``opt_merge`` merges identical flip-flops regardless, which would turn the copies back into
    one register driving every result register (or every output multiplexer); adderhw's board
    builds therefore run ``setattr -set keep 1 a:keep %ci1 t:$dff %i`` after ``proc``
    (boards/build.py). Users synthesising the Verilog with Yosys need the same line; at 16x16 on
    the ECP5-85F the merged shift register was the critical path.
  * Stream rules: while a row is offered and not accepted there is no pop, so a push moves the
    offered row from e[k - 1] to e[k] in the same edge that moves the select to e[k]; the payload
    does not change. Throughput: in a drain without stalls the FIFO holds one row in every cycle
    and a row is pushed and popped in every cycle; after a stall it holds up to three, and the
    decision resumes pushing before the FIFO runs dry, so the output never idles while rows remain
    (the formal ``progress`` property).
  * Reset. ``start_first``, ``start_early``, ``start_early_grp``, ``start``, ``start_col``, ``go``, ``sel``, ``occ``, ``left``, ``row``, ``occ_col``,
    ``left_col`` and ``go_ctl`` are cleared by leaves of the array's reset tree (hw.reset): the
    central ones on ``i_rst``, column c's on ``i_rst_col[c]`` (a group's early start on its first
    column's), never by the domain reset. Every leaf
    is the same delayed reset, so the PEs' flags are cleared in the same cycle (no PE captures
    in the cycle after it, and the start registers agree with PE(R-1, C-1) from then on);
    ``go_col`` and ``sel_col`` are not, so that only the decision logic sits in front of them (a
    synchronous reset can cost a LUT level there). In the cycle after a
    reset they hold what the decision logic made of the state before it (anything, after
    power-up), so a column may shift once spuriously and its select may point at e1 or e2; from the
    second cycle on they are computed from the reset state and equal ``go`` and ``sel``. A
    column's controller counts its reset ``go_ctl[c]`` as the push, never ``go_col[c]``, so its
    copy stays equal to the central one. That one spurious cycle corrupts nothing else: the
    reset has cleared every PE's valid/last flags, so no tile is in the array and no PE captures in
    that cycle; the result registers it shifts hold no tile and are all rewritten by the next
    tile's capture before the drain reads them (and capture wins over shift in a PE). The entries
    it shifts are not counted: ``occ`` is 0, so ``o_sum.valid`` is low (a wrong select only changes
    a payload nobody may read), and every row ``occ`` counts later is pushed after the reset. The
    formal proofs cover this case: ``adderhw prove`` drops every ``init`` value, so these
    registers start from any value in the reset cycle, which is a reset in any state.

Timing (no stalls): if PE(R-1, C-1) captures in cycle t, the chains shift in cycles t+1 .. t+R
and row r is offered in cycle t + 2 + r. ``o_done`` pulses in the cycle the tile's last row is
accepted.

Members
-------
i_start : In(1)                       the tile is complete at the end of the cycle ``start_lead``
                                      cycles later: in a systolic array the capture of a PE with
                                      r + c = R + C - 2 - start_lead; in a broadcast array the
                                      broadcast valid and last registers (hw.array)
i_head : In(ArrayLayout(acc, cols))   row 0 of every column's chain
o_shift : Out(ArrayLayout(cols, rows)) o_shift[r][c]: result register (r, c) takes the one below
                                      at the end of this cycle
o_sum : Out(stream.Signature({data: ArrayLayout(acc, cols), last: 1}))
o_done : Out(1)                       the tile's last row is accepted in this cycle
i_rst : In(1)                         clears the central controller (a leaf of hw.reset's tree)
i_rst_col : In(cols)                  i_rst_col[c] clears column c's controller (likewise)

``start_lead`` (an int, set in the constructor) is min(3, R + C - 2) in a systolic array and
S - 1 (1 to 3; S = ``pe_stages``) in a broadcast one, whose PEs all capture S - 1 cycles after
the broadcast flags carry the tile's last beat. After elaboration,
``start_first`` (None unless the lead is 3), ``start_early`` (None if the lead is below 2),
``start_early_grp`` (its copies per group of columns, a list, empty if the lead is below 2), ``start``, ``start_col``, ``left``, ``occ``, ``row``, ``go``, ``go_col`` (per
column, a list per row group), ``e`` (the three entries), ``sel``, ``sel_col``, ``left_col``,
``occ_col``, ``go_ctl``, ``many``, ``one``, ``many_col`` and ``one_col`` name the registers above (not ports; the entries have the payload's
layout; in a 1x1 array ``start`` and
``start_col[0]`` are ``i_start`` itself); the
formal spec (``hw.array_spec``) states its invariants over them.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from adderhw.base.config import check_config

from .mutation import fires
from .pe import acc_shape
from .reset import GROUP_COLS, clear_on

__all__ = ["DrainControl", "FIFO_DEPTH", "GROUP_ROWS"]

#: entries of each column's output FIFO (see the module docstring for why three)
FIFO_DEPTH = 3
#: rows of result registers driven by one copy of a column's shift enable
GROUP_ROWS = 4
C0 = Const(0, 1)


class DrainControl(wiring.Component):
    def __init__(self, config, *, mutation=None):
        self.config = check_config(config)
        self.mutation = mutation        # hw.mutation: the array's deliberate bug, if any
        if config.dataflow == "systolic":
            self.start_lead = min(3, config.rows + config.cols - 2)
        else:
            self.start_lead = config.pe_stages - 1
        row = data.ArrayLayout(acc_shape(config), config.cols)
        super().__init__({
            "i_start": In(1),
            "i_head": In(row),
            "o_shift": Out(data.ArrayLayout(config.cols, config.rows)),
            "o_sum": Out(stream.Signature(data.StructLayout({"data": row, "last": 1}))),
            "o_done": Out(1),
            "i_rst": In(1), "i_rst_col": In(config.cols),
        })

    def elaborate(self, platform):
        m = Module()
        R, C = self.config.rows, self.config.cols
        layout = self.o_sum.payload.shape()

        # -- the drain's start: PE(R-1, C-1) captures in this cycle. i_start leads it by start_lead
        # cycles; the last stage is registered centrally and per column (``keep``: merged, one register
        # would again reach every column's controller), the stage before it centrally and once per
        # group of GROUP_COLS columns, the first stage (lead 3) once, beside the PE it comes from.
        lead, start_first, start_early, start_early_grp = self.start_lead, None, None, []
        groups_c = -(-C // GROUP_COLS)
        if lead == 0:
            start, start_col = self.i_start, [self.i_start]
            early_col = [C0]
        else:
            src = self.i_start
            if lead == 3:
                start_first = Signal(name="start_first", reset_less=True)
                m.d.sync += start_first.eq(src)
                src = start_first
            if lead >= 2:
                start_early = Signal(name="start_early", reset_less=True)
                start_early_grp = [Signal(name=f"start_early_grp{g}", attrs={"keep": 1}, reset_less=True)
                                   for g in range(groups_c)]
                m.d.sync += [start_early.eq(src), *(s.eq(src) for s in start_early_grp)]
                early_col = [start_early_grp[c // GROUP_COLS] for c in range(C)]
            else:
                early_col = [self.i_start] * C
            start = Signal(name="start", reset_less=True)
            start_col = [Signal(name=f"start_col{c}", attrs={"keep": 1}, reset_less=True) for c in range(C)]
            m.d.sync += [start.eq(start_early if start_early is not None else src),
                         *(s.eq(early_col[c]) for c, s in enumerate(start_col))]

        # -- the shift decision, made one cycle ahead from the controller's state alone (never from
        # o_sum.ready) and registered per column and row group
        go = Signal(reset_less=True)        # the central copy of the shift enables: the chains shift now
        # one register per column and group of GROUP_ROWS rows; ``keep`` stops Yosys from merging the
        # identical copies back into one register that would drive every result register of the array.
        # No reset: one spurious shift after a reset is harmless (module docstring, "Reset").
        groups = -(-R // GROUP_ROWS)
        go_col = [[Signal(name=f"go_col{c}_{g}", attrs={"keep": 1}, reset_less=True) for g in range(groups)]
                  for c in range(C)]
        left = Signal(range(R + 1), reset_less=True)    # rows of the current tile still in the chains
        row = Signal(range(max(R, 2)), reset_less=True)     # row index of the next row pushed into the FIFO
        for r in range(R):
            shift = Cat(*(go_col[c][r // GROUP_ROWS] for c in range(C)))
            if fires(self.mutation, "drain-skips-row"):     # MUTATION (hw.mutation): an extra shift at the start
                shift = shift | start.replicate(C)
            m.d.comb += self.o_shift[r].eq(shift)

        # -- the output FIFO, three entries per column that shift with the column's chain: e0 takes
        # row 0 of the chain, e1 takes e0, e2 takes e1. ``occ`` counts the rows held (0..3); they are
        # the newest ``occ`` rows pushed, so the oldest (offered) is in e[occ - 1].
        e = [Signal(layout, name=f"e{i}", reset_less=True) for i in range(FIFO_DEPTH)]  # occ says which hold rows
        occ = Signal(range(FIFO_DEPTH + 1), reset_less=True)
        # the offered row's entry, as (in e1, in e2) = (occ == 2, occ == 3); e0 otherwise
        sel = Signal(2, reset_less=True)    # the central copy of sel_col[c]
        # ``keep`` as for go_col: a merged select would drive every output multiplexer of the row
        sel_col = [Signal(2, name=f"sel_col{c}", attrs={"keep": 1}, reset_less=True) for c in range(C)]

        def offered(sel, field):
            return Mux(sel[1], field(e[2]), Mux(sel[0], field(e[1]), field(e[0])))

        pop = Signal()
        m.d.comb += [self.o_sum.valid.eq(occ != 0),
                     self.o_sum.payload.last.eq(offered(sel, lambda x: x.last)),
                     *(self.o_sum.payload.data[c].eq(offered(sel_col[c], lambda x, c=c: x.data[c]))
                       for c in range(C)),
                     pop.eq(self.o_sum.valid & self.o_sum.ready)]

        push = go                           # a shift moves row 0 of every chain into the FIFO
        for c in range(C):
            with m.If(go_col[c][0]):        # the column's copy of push: its data never sees o_sum.ready
                m.d.sync += [e[0].data[c].eq(self.i_head[c]),
                             *(e[i].data[c].eq(e[i - 1].data[c]) for i in range(1, FIFO_DEPTH))]
        with m.If(push):
            m.d.sync += [row.eq(Mux(row == R - 1, 0, row + 1)), e[0].last.eq(row == R - 1),
                         *(e[i].last.eq(e[i - 1].last) for i in range(1, FIFO_DEPTH))]

        def decide(start, start_next, occ, left, push, pop, many, one):
            """The next (occ, left, go, sel, many, one) of one copy of the controller (``start_next``:
            the D input of this copy's start register, the start of the next cycle).

            ``go`` does not read ``pop``: a row is pushed in the next cycle only if the FIFO would
            have room for it even if nothing is popped in this cycle or the next, that is if
            occ + push <= 2 (with push only when occ <= 2, not (occ == 3 or (occ == 2 and push))),
            and if rows remain after this cycle's push (left - push != 0, or a new tile starts).
            That last test is kept one LUT deep: ``many`` (start or left >= 2) and ``one``
            (left == 1) are registers of their own, so that go reads five bits (many, one, push
            and the 2-bit occupancy), one LUT5, and no carry or wide compare sits in front of the
            shift-enable copies (with the 5-bit row count read directly, three logic levels and
            0.8 ns of wire between them were the 16x16 critical path on the ECP5-85F).
            ``sel`` is read off the state without an adder (it sits on o_sum.ready's path):
            occ + push - pop is 3 when ``not pop and (occ == 3 or (occ == 2 and push))`` and 2 when
            ``not pop and (occ == 2 and not push or occ == 1 and push)`` or
            ``pop and (occ == 3 or occ == 2 and push)``."""
            occ_next = occ + push - pop
            left_next = Mux(start, R, left - push)
            rows_after = many | (one & ~push)                    # left - push != 0, or a start
            at3 = (occ == 3) | ((occ == 2) & push)              # occ + push == 3
            at2 = ((occ == 2) & ~push) | ((occ == 1) & push)    # occ + push == 2
            # many and one of the next cycle, from left_next without an adder: left_next >= 2 and == 1
            many_next = start_next | Mux(start, R >= 2, (left >= 3) | ((left == 2) & ~push))
            one_next = Mux(start, R == 1, ((left == 2) & push) | ((left == 1) & ~push))
            return (occ_next, left_next, rows_after & ~at3,
                    Cat((~pop & at2) | (pop & at3), ~pop & at3), many_next, one_next)

        def state_bits(suffix, start, left, keep):
            """``many`` and ``one`` of one copy: registers, except in a 1x1 array, whose start is
            ``i_start`` itself (comb), where ``many`` is comb too."""
            attrs = {"keep": 1} if keep else {}
            one = Signal(name=f"one{suffix}", attrs=attrs, reset_less=True)
            if lead == 0:
                many = Signal(name=f"many{suffix}")
                m.d.comb += many.eq(start | (left >= 2))
                return many, one, None
            many = Signal(name=f"many{suffix}", attrs=attrs, reset_less=True)
            return many, one, many

        # the start of the next cycle: the D input of the start registers (0 in a 1x1 array, whose
        # start is combinational); each column's copy reads its own group's register
        start_next = C0 if lead == 0 else (start_early if start_early is not None else self.i_start)

        # the central copy: o_sum.valid, o_done and the entries' last flags
        many, one, many_reg = state_bits("", start, left, keep=False)
        occ_next, left_next, go_next, sel_next, many_next, one_next = decide(start, start_next, occ, left, push, pop,
                                                                             many, one)
        m.d.sync += [occ.eq(occ_next), left.eq(left_next), go.eq(go_next), sel.eq(sel_next), one.eq(one_next)]
        if many_reg is not None:
            m.d.sync += many_reg.eq(many_next)
        # one copy per column, beside the column's registers: o_sum.ready and the start each cross to
        # the column once and meet only local logic there (at 16x16 on the ECP5-85F, ready -> occ ->
        # sel_col through one central copy was the critical path). The copy's own decision register
        # ``go_ctl[c]`` is reset and feeds back only into the copy, so the copy's loop stays local;
        # ``go_col[c][g]``, loaded with the same value, drive the column's data registers (without
        # reset, see the module docstring). ``keep`` stops Yosys from merging the C copies.
        occ_col = [Signal(range(FIFO_DEPTH + 1), name=f"occ_col{c}", attrs={"keep": 1}, reset_less=True)
                   for c in range(C)]
        left_col = [Signal(range(R + 1), name=f"left_col{c}", attrs={"keep": 1}, reset_less=True) for c in range(C)]
        go_ctl = [Signal(name=f"go_ctl{c}", attrs={"keep": 1}, reset_less=True) for c in range(C)]
        many_col, one_col, col_regs = [], [], []
        for c in range(C):
            many_c, one_c, many_c_reg = state_bits(f"_col{c}", start_col[c], left_col[c], keep=True)
            many_col.append(many_c), one_col.append(one_c)
            col_regs.append([r for r in (start_col[c], occ_col[c], left_col[c], go_ctl[c], one_c, many_c_reg)
                             if r is not None and r is not self.i_start])
            pop_c = (occ_col[c] != 0) & self.o_sum.ready
            occ_c, left_c, go_c, sel_c, many_n, one_n = decide(start_col[c], early_col[c], occ_col[c], left_col[c],
                                                               go_ctl[c], pop_c, many_c, one_c)
            m.d.sync += [occ_col[c].eq(occ_c), left_col[c].eq(left_c), go_ctl[c].eq(go_c), sel_col[c].eq(sel_c),
                         one_c.eq(one_n), *(g.eq(go_c) for g in go_col[c])]
            if many_c_reg is not None:
                m.d.sync += many_c_reg.eq(many_n)

        m.d.comb += self.o_done.eq(pop & self.o_sum.payload.last)
        # the reset, from the array's reset tree (hw.reset): the central registers on i_rst, each
        # column's on its own leaf i_rst_col[c]
        clear_on(m, self.i_rst, [r for r in (start_first, start_early, start, go, sel, occ, left, row, one, many_reg)
                                 if r is not None and r is not self.i_start])
        for c in range(C):
            # a group's copy of the early start is cleared with its first column's controller
            grp = [start_early_grp[c // GROUP_COLS]] if start_early_grp and c % GROUP_COLS == 0 else []
            clear_on(m, self.i_rst_col[c], col_regs[c] + grp)
        self.start_first, self.start_early, self.start_early_grp = start_first, start_early, start_early_grp
        self.start, self.start_col = start, start_col
        self.left, self.occ, self.row, self.go, self.go_col = left, occ, row, go, go_col
        self.e, self.sel, self.sel_col = e, sel, sel_col
        self.occ_col, self.left_col, self.go_ctl = occ_col, left_col, go_ctl
        self.many, self.one, self.many_col, self.one_col = many, one, many_col, one_col
        return m
