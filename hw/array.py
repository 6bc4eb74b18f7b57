"""``SystolicArray``: an output-stationary R x C array of SAD or MAC PEs with stream ports.

Dataflow. PE(r, c) owns output (t = r, p = c) of the current tile. Filter value A[r, k]
enters row r from the left and moves right one PE per cycle; activation B[k, c] enters
column c from the top and moves down. Row r's filter lane is delayed by r registers and
column c's activation lane by c registers (the skew), so A[r, k] and B[k, c] both reach
PE(r, c) k + r + c cycles after beat k was accepted. ``valid`` and ``last`` travel down
with the activations.

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
so the next tile computes while the finished one drains. The drain starts when PE(0, C-1)
captures (row 0 is then complete; row r completes one cycle after row r-1, so the drain,
one row per beat, never overtakes the capture wave) and reads row ``r`` through a mux.
While a drain is pending the *last* beat of the next tile is not accepted (other beats are):
that is the only place where output backpressure reaches the inputs, and it guarantees that
no result register is overwritten before it is read. Nothing is lost or duplicated.

Cycles (no stalls on either side). Let S = ``config.pe_stages`` and G = R + C + S - 1,
the cycles from accepting a tile's last beat to its last output row, plus one. If tile j has
K_j beats and its last beat is accepted at cycle L_j (L_0 = K_0 - 1,
L_j = L_{j-1} + max(K_j, G)), the last output beat is accepted at cycle L_last + G - 1,
so a run of tiles takes L_last + G cycles. The drain is hidden whenever K >= G.
(``golden.cycles`` implements this formula; tests hold the RTL to it.)
"""
from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from adderhw.base.config import check_config

from .pe import acc_shape, make_pe

__all__ = ["SystolicArray", "array_signature", "filter_layout", "act_layout", "sum_layout"]


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
    o_busy : Out(1)     a finished tile is being captured or drained
    """

    def __new__(cls, config, *args, **kwargs):
        # Refuse a bad config before the object exists (see ProcessingElement.__new__).
        check_config(config)
        return super().__new__(cls, config, *args, **kwargs)

    def __init__(self, config):
        self.config = config
        super().__init__(array_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        R, C = cfg.rows, cfg.cols

        busy = Signal()
        m.d.comb += self.o_busy.eq(busy)
        fire = Signal()
        # A tile's last beat waits until the previous tile has drained (see module docstring).
        m.d.comb += fire.eq(self.i_filter.valid & self.i_act.valid & ~(self.i_act.payload.last & busy))
        m.d.comb += [self.i_filter.ready.eq(fire), self.i_act.ready.eq(fire)]

        # Skew: row r's filter lane through r registers, column c's activation lane through c.
        # Data registers need no reset (valid travels beside them); valid and last are reset.
        def delayed(m, value, n, name, data=False):
            for i in range(n):
                reg = Signal(value.shape(), name=f"{name}_d{i + 1}", reset_less=data)
                m.d.sync += reg.eq(value)
                value = reg
            return value

        a_in = [delayed(m, self.i_filter.payload[r], r, f"skew_a{r}", data=True) for r in range(R)]
        b_in, v_in, l_in = [], [], []
        for c in range(C):
            b_in.append(delayed(m, self.i_act.payload.data[c], c, f"skew_b{c}", data=True))
            v_in.append(delayed(m, fire, c, f"skew_v{c}"))
            l_in.append(delayed(m, fire & self.i_act.payload.last, c, f"skew_l{c}"))

        pes = [[make_pe(cfg) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                pe = pes[r][c]
                m.submodules[f"pe_{r}_{c}"] = pe
                left = a_in[r] if c == 0 else pes[r][c - 1].o_a
                if r == 0:
                    b, v, l = b_in[c], v_in[c], l_in[c]
                else:
                    up = pes[r - 1][c]
                    b, v, l = up.o_b, up.o_valid, up.o_last
                m.d.comb += [pe.i_a.eq(left), pe.i_b.eq(b), pe.i_valid.eq(v), pe.i_last.eq(l)]

        # Drain: row by row from the result registers, starting when row 0 is complete.
        draining = Signal()
        row = Signal(range(max(R, 2)))      # at least one bit: a 0-bit wire is not Verilog
        row_mux = [Array(pes[r][c].o_sum for r in range(R)) for c in range(C)]
        m.d.comb += [
            self.o_sum.valid.eq(draining),
            self.o_sum.payload.last.eq(row == R - 1),
        ]
        for c in range(C):
            m.d.comb += self.o_sum.payload.data[c].eq(row_mux[c][row])
        with m.If(fire & self.i_act.payload.last):
            m.d.sync += busy.eq(1)
        with m.If(pes[0][C - 1].o_capture):
            m.d.sync += [draining.eq(1), row.eq(0)]
        with m.If(self.o_sum.valid & self.o_sum.ready):
            with m.If(row == R - 1):
                m.d.sync += [draining.eq(0), busy.eq(0)]
            with m.Else():
                m.d.sync += row.eq(row + 1)
        return m
