"""``SystolicArray``: an output-stationary R x C array of SAD or MAC PEs with stream ports.

Dataflow. PE(r, c) owns output (t = r, p = c) of the current tile. Filter value A[r, k]
enters row r from the left and moves right one PE per cycle; activation B[k, c] enters
column c from the top and moves down. Row r's filter lane is delayed by r registers and
column c's activation lane by c registers (the skew), so A[r, k] and B[k, c] both reach
PE(r, c) k + r + c cycles after beat k was accepted. With ``config.skew = "memory"`` the lanes of 4
cycles or more are RAM ring buffers of the same delay instead (:mod:`hw.skew`). ``valid`` and ``last`` travel down
with the activations.

Broadcast dataflow (``config.dataflow = "broadcast"``), for small devices. Row r's filter value,
column c's activation and the valid and last flags are each registered once, and PE(r, c) reads
row r's and column c's registers: every PE sees beat k one cycle after it was accepted
(``ArrayConfig.arrival``), all PEs capture a tile in the same cycle, and there is no skew and no
operand forwarding (the PEs' forwarding registers have no load and synthesis removes them). The
drain, the join, the reset and the stream rules are the same; G below becomes R + S + 2. The valid
and last flags are registered once per row (kept copies), so every broadcast register drives C (a
filter lane or a row's flags) or R (an activation lane) loads, never R·C; still, a lane's loads
grow with a row or a column, where the systolic array's are one neighbour, so the broadcast array's
clock falls sooner as it grows.

Streams (``amaranth.lib.stream``, rules honoured: valid is never withdrawn by us and our
payload is held until accepted):
  * ``i_filter``: payload ``ArrayLayout(signed(width), rows)``, the column A[tile rows, k].
  * ``i_act``: payload ``{data: ArrayLayout(signed(width), cols), last: 1}``, the row
    B[k, tile cols]; ``last`` marks k = K - 1 and ends the tile.
  * ``o_sum``: payload ``{data: ArrayLayout(acc, cols), last: 1}``, one tile row per beat,
    rows 0 .. R-1 in order, ``last`` on row R-1.

One filter beat and one activation beat are consumed together (a join): each stream's
``ready`` waits for both ``valid`` signals, as AXI-Stream allows a receiver to do.
When either is missing, a bubble (valid = 0) enters instead and the PEs hold.

Double buffering and backpressure. The compute pipeline never stalls. When a tile's last
term reaches a PE its sum moves to the PE's result register and the accumulator restarts,
so the next tile computes while the finished one drains. The result registers of each column
form a shift chain toward row 0 (:mod:`hw.drain`): once PE(R-1, C-1), the last to capture, has
its sum, the chains shift one row per cycle into a 3-entry output FIFO that feeds ``o_sum``.
While a drain is pending (from the acceptance of a tile's last beat to the acceptance of its last
output row) the *last* beat of the next tile is not accepted (other beats are): that is the only
place where output backpressure reaches the inputs, and it guarantees that no result register is
overwritten before it has left its chain. Nothing is lost or duplicated.

Wiring stays local. Operands move one PE per cycle; the result chains talk to their neighbour
below; the drain's shift enable is registered once per column and group of four rows (each copy
drives at most four of the column's result registers, the first also its three output FIFO
entries) and decided, without ``o_sum.ready``, by a small controller of which each column keeps
its own copy; ``o_sum.ready`` and the drain's start reach those copies (fan-out C) and never a
data bit (the output FIFO shifts per column, see hw/drain.py). The input join (``fire``) drives
PE(0, 0)'s flags and the first register of one valid/last chain along the top edge (column c's
flags are column c - 1's one cycle later); the filter and activation skews are data registers
that ``fire`` does not reach. No net reaches every PE: the
synchronous reset of the valid/last flags, the accumulators and the controllers comes from a tree
of registers (:mod:`hw.reset`), one leaf per four PEs of a row.

Reset. The array's registers see the domain reset ``RESET_CYCLES`` = 3 cycles late (all of them in
the same cycle), and its ports stay silent until then: from the cycle after the reset rises to 3
cycles after it falls, both inputs' ``ready``, ``o_sum.valid`` and ``o_busy`` are low. After a
reset, the first beat can be accepted ``RESET_CYCLES`` cycles after the reset falls.

Cycles (no stalls on either side; systolic, see above for broadcast). Let S = ``config.pe_stages`` and G = 2R + C + S - 1,
the cycles from accepting a tile's last beat to its last output row, plus one: the capture wave
reaches PE(R-1, C-1) R + C + S - 3 cycles after the last beat, the chains then shift for R
cycles, and the FIFO offers each row one cycle after it left its chain. If tile j has K_j beats
and its last beat is accepted at cycle L_j (L_0 = K_0 - 1, L_j = L_{j-1} + max(K_j, G)), the last
output beat is accepted at cycle L_last + G - 1, so a run of tiles takes L_last + G cycles
(cycle 0 is the first cycle the array may accept a beat: after a reset, ``RESET_CYCLES`` cycles
after it falls). The
drain is hidden whenever K >= G. (``golden.cycles`` implements this formula; tests hold the RTL to
it on every simulator.) The multiplexer drain this replaced had G = R + C + S - 1; the chain costs
R cycles of latency and keeps large arrays at the clock of small ones.
"""
from amaranth.hdl import Const, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from adderhw.base.config import check_config

from .drain import DrainControl
from .mutation import check_mutation, current_mutation, fires
from .pe import acc_shape, make_pe
from .reset import RESET_CYCLES, ResetTree, clear_on
from .skew import RingDelay, in_memory, ram_style

__all__ = ["SystolicArray", "array_signature", "filter_layout", "act_layout", "sum_layout", "RESET_CYCLES"]


def filter_layout(config):
    return data.ArrayLayout(signed(config.width), config.rows)


def act_layout(config):
    return data.StructLayout({"data": data.ArrayLayout(signed(config.width), config.cols), "last": 1})


def sum_layout(config):
    return data.StructLayout({"data": data.ArrayLayout(acc_shape(config), config.cols), "last": 1})


def array_signature(config):
    """The array's port signature (see :class:`SystolicArray`)."""
    return wiring.Signature({
        "i_filter": In(stream.Signature(filter_layout(config))),
        "i_act": In(stream.Signature(act_layout(config))),
        "o_sum": Out(stream.Signature(sum_layout(config))),
        "o_busy": Out(1),
    })


class SystolicArray(wiring.Component):
    """Output-stationary systolic array; see the module docstring for dataflow, protocol and cycles.

    Members
    -------
    i_filter : In(stream.Signature(ArrayLayout(signed(width), rows)))
    i_act : In(stream.Signature({data: ArrayLayout(signed(width), cols), last: 1}))
    o_sum : Out(stream.Signature({data: ArrayLayout(acc, cols), last: 1}))
    o_busy : Out(1)     a finished tile is being captured or drained (from the cycle after its last
                        beat is accepted to the cycle its last output row is accepted)

    After a reset the ports are silent for ``RESET_CYCLES`` cycles (see the module docstring).

    ``mutation``: one of ``hw.mutation.MUTATIONS``, a deliberate bug for the formal proofs and the
    regressions to catch; None (the default) builds the array of the innermost
    ``hw.mutation.mutated`` block, and outside every block the correct array.

    After elaboration ``pes[r][c]``, ``drain`` and ``reset_tree`` name the submodules, whose
    registers the formal spec (``hw.array_spec``) reads.
    """

    def __new__(cls, config, *args, mutation=None, **kwargs):
        # Refuse a bad config or mutation before the object exists (see ProcessingElement.__new__).
        check_config(config)
        check_mutation(mutation)
        return super().__new__(cls, config, *args, mutation=mutation, **kwargs)

    def __init__(self, config, *, mutation=None):
        self.config = config
        self.mutation = current_mutation() if mutation is None else check_mutation(mutation)
        super().__init__(array_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols

        # the reset, through a tree of registers: leaves for the PEs, the skew, the drain and the join
        m.submodules.reset_tree = tree = ResetTree(R, C)
        quiet = tree.o_quiet

        busy = Signal(reset_less=True)
        m.d.comb += self.o_busy.eq(busy & ~quiet)
        fire = Signal()
        # A tile's last beat waits until the previous tile has drained (see module docstring).
        waits = self.i_act.payload.last & busy
        if fires(self.mutation, "ready-ignores-backpressure"):  # MUTATION (hw.mutation): the last beat never waits
            waits = Const(0, 1)
        m.d.comb += fire.eq(self.i_filter.valid & self.i_act.valid & ~waits & ~quiet)
        m.d.comb += [self.i_filter.ready.eq(fire), self.i_act.ready.eq(fire)]

        # Skew: row r's filter lane delayed by r cycles, column c's activation lane by c (hw.skew:
        # registers, or for long lanes a RAM ring buffer). Data lanes need no reset (valid travels
        # beside them); valid and last are cleared by a leaf of the reset tree (``clear``).
        def lane(value, n, name):
            if not in_memory(cfg.skew, n):
                return delayed(m, value, n, name)
            m.submodules[name] = ring = RingDelay(value.shape(), n, name=name, ram_style=ram_style(platform))
            m.d.comb += ring.i_data.eq(value)
            return ring.o_data

        def delayed(m, value, n, name, clear=None, keep=False):
            regs = []
            for i in range(n):
                reg = Signal(value.shape(), name=f"{name}_d{i + 1}", reset_less=True,
                             attrs={"keep": 1} if keep else {})
                m.d.sync += reg.eq(value)
                regs.append(reg)
                value = reg
            if clear is not None:
                clear_on(m, clear, regs)
            return value

        if cfg.dataflow == "systolic":
            a_in = [lane(self.i_filter.payload[r], r, f"skew_a{r}") for r in range(R)]
            b_in = [lane(self.i_act.payload.data[c], c, f"skew_b{c}") for c in range(C)]
            # valid and last are the same for every column, only later: one chain along the top edge,
            # column c's flags one register after column c - 1's (C - 1 registers each, not C(C - 1)/2,
            # and ``fire`` drives one register, not one per column: with a chain per column, cleared by
            # different reset leaves so that Yosys could not merge them, fire's wire to column 12's
            # chain was the 16x16 critical path on the ECP5-85F, 4.5 ns of routing)
            v_in, l_in = [fire], [fire & self.i_act.payload.last]
            for c in range(1, C):
                # cleared by the reset leaf of PE(0, c), beside it
                v_in.append(delayed(m, v_in[-1], 1, f"skew_v{c}", clear=tree.o_pe[0][c]))
                l_in.append(delayed(m, l_in[-1], 1, f"skew_l{c}", clear=tree.o_pe[0][c]))
        else:
            # broadcast: one register per row's filter lane, per column's activation lane and for
            # valid and last, which every PE of the row, the column or the array reads (arrival 1)
            a_in = [delayed(m, self.i_filter.payload[r], 1, f"bcast_a{r}") for r in range(R)]
            b_in = [delayed(m, self.i_act.payload.data[c], 1, f"bcast_b{c}") for c in range(C)]
            # valid and last: a copy per row, which the row's C PEs read (fan-out C, as a filter lane's;
            # one copy for the whole array drove R·C loads, and the bare 8x16 array's clock on the
            # ECP5-85F fell to 166 MHz from the systolic array's 198), kept so that Yosys does not
            # merge the equal registers, and cleared by the row's first reset leaf
            bcast_v, bcast_l = [], []
            for r in range(R):
                bcast_v.append(delayed(m, fire, 1, f"bcast_v{r}", clear=tree.o_pe[r][0], keep=True))
                bcast_l.append(delayed(m, fire & self.i_act.payload.last, 1, f"bcast_l{r}", clear=tree.o_pe[r][0],
                                       keep=True))
            # and one more copy of last for the drain's start (hw.drain fans it out per column)
            bcast_l_drain = delayed(m, fire & self.i_act.payload.last, 1, "bcast_l_drain", clear=tree.o_pe[0][0],
                                    keep=True)

        pes = [[make_pe(cfg, mutation=self.mutation) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                pe = pes[r][c]
                m.submodules[f"pe_{r}_{c}"] = pe
                if cfg.dataflow == "broadcast":
                    m.d.comb += [pe.i_a.eq(a_in[r]), pe.i_b.eq(b_in[c]), pe.i_valid.eq(bcast_v[r]),
                                 pe.i_last.eq(bcast_l[r]), pe.i_rst.eq(tree.o_pe[r][c])]
                    continue
                left = a_in[r] if c == 0 else pes[r][c - 1].o_a
                if r == 0:
                    b, v, l = b_in[c], v_in[c], l_in[c]
                else:
                    up = pes[r - 1][c]
                    b, v, l = up.o_b, up.o_valid, up.o_last
                m.d.comb += [pe.i_a.eq(left), pe.i_b.eq(b), pe.i_valid.eq(v), pe.i_last.eq(l),
                             pe.i_rst.eq(tree.o_pe[r][c])]

        # Drain: each column's result registers shift toward row 0 (see hw/drain.py).
        m.submodules.drain = drain = DrainControl(cfg, mutation=self.mutation)
        m.d.comb += [drain.i_rst.eq(tree.o_drain), drain.i_rst_col.eq(tree.o_col)]
        for r in range(R):
            for c in range(C):
                pe = pes[r][c]
                m.d.comb += [pe.i_shift.eq(drain.o_shift[r][c]),
                             pe.i_below.eq(pes[r + 1][c].o_sum if r + 1 < R else 0)]
        for c in range(C):
            m.d.comb += drain.i_head[c].eq(pes[0][c].o_sum)
        if cfg.dataflow == "systolic":
            # the drain registers its start from a PE that the capture wave reaches drain.start_lead
            # cycles before PE(R-1, C-1), so that no capture pulse crosses the array (hw/drain.py)
            diagonal = R + C - 2 - drain.start_lead
            early = pes[min(R - 1, diagonal)][diagonal - min(R - 1, diagonal)]
            m.d.comb += drain.i_start.eq(early.o_capture)
        else:
            # every PE captures S - 1 = drain.start_lead cycles after the broadcast flags carry the
            # tile's last beat
            m.d.comb += drain.i_start.eq(bcast_l_drain)
        # o_sum is the drain's stream, silent while the reset tree is quiet (the drain may still pop
        # rows in those cycles: they are from before the reset, which clears the drain before quiet ends)
        m.d.comb += [self.o_sum.valid.eq(drain.o_sum.valid & ~quiet), self.o_sum.payload.eq(drain.o_sum.payload),
                     drain.o_sum.ready.eq(self.o_sum.ready)]
        with m.If(fire & self.i_act.payload.last):
            m.d.sync += busy.eq(1)
        with m.Elif(drain.o_done):
            m.d.sync += busy.eq(0)
        clear_on(m, tree.o_core, [busy])
        self.pes, self.drain, self.reset_tree = pes, drain, tree
        return m
