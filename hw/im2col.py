"""``Im2colGenerator``: im2col in hardware. It reads the layer's input and weights from the engine's
memories and streams the array's ``i_act`` and ``i_filter`` beats for every tile of a layer, back
to back, without materialising the im2col matrix.

Order (golden.program): for each output position (oy, ox) in raster order, for each T-tile tt,
for each K index k = (ci, ky, kx) in C order, one beat:
  * ``o_act``: lane c = x_c[ci, oy·s + ky − p, ox·s + kx − p] of image c (0 where that is padding),
    ``last`` at k = K − 1;
  * ``o_filter``: the weight word ``wbase + tt·K + k`` (lane r = F[tt·R_L + r, k]).

Addresses are stepped with adders only, from the descriptor's precomputed steps:
``a_pos`` is the address of tap (0, 0, 0) at the current position, ``t_off`` the tap's offset
(+1 per kx, ``ky_step`` when kx wraps, ``ci_step`` when ky wraps); a tap is in range when
0 <= iy0 + ky < in_h and 0 <= ix0 + kx < in_w, with (iy0, ix0) = (oy·s − p, ox·s − p).

Per-tile input shift (``EngineConfig.tile_shift``; golden.program, step 0): stage 0 also drives
``o_xs_addr`` = cbase + tt·R_L (a running sum, no multiplier: R_L is added per tile), the constant
entry of the tile's first channel in the engine's x_shift table; its signed X_SHIFT_BITS value
arrives with the activation word at stage 1, and every lane of the payload is
tile_shift(value, d) (x·2^d saturated for d >= 0, (x + 2^(−d−1)) >> −d for d < 0), after zero
padding. Without tile_shift none of it is built and the ports are absent.

Residual add (``EngineConfig.residual``): a residual step's descriptor describes a 1x1
"convolution" of its C_ch channels with one T-tile, so the generator walks its operand in the
post-processing's order (position by position, channel by channel) at address ci·H·W + y·W + x.
The engine reads the skip operand's buffer at the same address (``o_act_addr``; both operands have
one layout), and ``i_skip_data`` is registered beside the main operand's word into ``o_skip``,
which is valid with ``o_act``. A residual step is never shifted per tile (its d is not in the
table), and nothing of this is built without ``residual``.

Timing (``IM2COL_STAGES`` = 3): stage 0 holds the loop counters and drives the memories' read
addresses; stage 1 is the memories' read data (registered inside the block RAM); stage 1b registers
the words as they come, with no logic between a block RAM's output, whose clock-to-output is 5.6 ns
on the ECP5, and a flip-flop. Stage 1b's activation words are not registered here: each activation
buffer has an output register of its own in hw.engine, enabled by ``o_act_reg_en``, and the engine's
choice of the source buffer is a multiplexer after those registers (before it, the choice sat
between the block RAM and this generator's register, and the block RAM's word through it was the
ECP5 8x16 engine's critical path, 10.1-10.2 ns); the weight memory, read a stage later from stage
1's copy of its address, is itself stage 1b's register for the weights. Stage 2 registers them,
after the source's choice, the zero padding and the per-tile shift, as the stream payload, so that
no path runs from a block RAM's output through logic into the array. A
beat is offered from the fourth cycle after ``i_start`` and then on every cycle that
the array accepts the previous one. When the array holds ``ready`` low (the last beat of a tile
waits for the drain, hw.array), the beat it did not take moves into a skid register, which offers
it until it is taken, and the pipeline moves once more and then holds (counters, the memories'
read enables, stage 1b and stage 2), so no beat is lost and no bubble is added: the array sees the same
beats in the same cycles as from a pipeline that held at once, but the pipeline's advance is a
function of its own registers (the skid register's and stage 2's valid), not of ``ready`` in the
same cycle; it is itself registered (from those valid bits' next values, which ``ready`` decides).
``o_busy`` is high from ``i_start`` until the layer's last beat is accepted.

Members
-------
i_start : In(1)                 begin the layer ``i_desc`` describes (held stable while busy)
i_desc : In(descriptor_layout)  the layer's descriptor (hw.descriptor)
o_act_addr : Out(act address)   read address of the source activation buffer; ``o_read_en`` enables
o_w_addr : Out(weight address)  read address of the weight buffer, one stage behind the activations'
                                (its word is registered in the memory as stage 1b); ``o_w_en`` enables
o_read_en : Out(1)              the activation buffer's (and the x_shift table's) read enable
o_w_en : Out(1)                 the weight buffer's read enable
o_act_reg_en : Out(1)           stage 1b's enable: the enable of the source buffer's output register
i_act_data : In(ArrayLayout(signed(width), C))   the source buffer's output register (stage 1b): the
                                word read at the address of the last ``o_read_en``, taken in each
                                cycle ``o_act_reg_en`` is high (two cycles after its address)
i_w_data : In(ArrayLayout(signed(width), R))     weight word read (one cycle after its address)
o_act : Out(stream.Signature({data: ArrayLayout(signed(width), C), last: 1}))
o_filter : Out(stream.Signature(ArrayLayout(signed(width), R)))
o_busy : Out(1)
o_xs_addr : Out(const address), i_xs_data : In(signed(X_SHIFT_BITS))   only with tile_shift
i_skip_data : In(ArrayLayout(signed(width), C)), o_skip : Out(ArrayLayout(signed(width), C))   only with residual;
                                ``i_skip_data`` is the skip buffer's output register, as ``i_act_data``
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import X_SHIFT_BITS, X_SHIFT_RANGE

from .descriptor import descriptor_layout, is_mul, is_residual
from .loop_counter import LoopCounter

__all__ = ["Im2colGenerator"]


class Im2colGenerator(wiring.Component):
    def __init__(self, engine):
        self.engine = engine
        a = engine.array
        w, C, R = a.width, a.cols, a.rows
        xs = {"o_xs_addr": Out(ceil_log2(engine.const_depth)), "i_xs_data": In(signed(X_SHIFT_BITS))} \
            if engine.tile_shift else {}
        if engine.residual:
            xs.update({"i_skip_data": In(data.ArrayLayout(signed(w), C)), "o_skip": Out(data.ArrayLayout(signed(w), C))})
        super().__init__({**xs,
            "i_start": In(1),
            "i_desc": In(descriptor_layout(engine)),
            "o_act_addr": Out(ceil_log2(engine.act_depth)),
            "o_w_addr": Out(ceil_log2(engine.weight_depth)),
            "o_read_en": Out(1),
            "o_w_en": Out(1),
            "o_act_reg_en": Out(1),
            "i_act_data": In(data.ArrayLayout(signed(w), C)),
            "i_w_data": In(data.ArrayLayout(signed(w), R)),
            "o_act": Out(stream.Signature(data.StructLayout({"data": data.ArrayLayout(signed(w), C), "last": 1}))),
            "o_filter": Out(stream.Signature(data.ArrayLayout(signed(w), R))),
            "o_busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.i_desc
        fw = self.engine.field_widths
        w = self.engine.array.width
        # Reset: only the valid bits (running, v1, v1b, v2, skid_valid) take the domain's reset (the engine's
        # after a hang, hw.link); the counters, addresses and data are loaded by ``i_start`` or travel
        # beside a valid bit, so they are ``reset_less``: on the iCE40 a synchronous reset acts only
        # with the flip-flop's enable, and the reset joined every counter's enable logic (the reset
        # into the tile counter's enable was the iCE40 engine's critical path, 26.0 ns)
        # counters as wide as the fields they count to (EngineConfig.field_widths); the input row and
        # column of a tap, iy0 + ky in [−padding, in_h + padding), signed two bits beyond a size
        coord = signed(fw["in_h"] + 2)
        running = Signal()
        # the loop counters (hw.loop_counter: each with a registered flag, high while it is at its
        # bound; the bounds less one, as the sequencer registers them, hw.descriptor.BOUND_FIELDS)
        # (the indices of ci, tt, ox and oy are not read, only their ends: they count down, which
        # keeps an adder out of their flags' logic, hw.loop_counter)
        oy_c = LoopCounter(m, fw["out_h"], d.out_h_m1, "oy", down=True)
        ox_c = LoopCounter(m, fw["out_w"], d.out_w_m1, "ox", down=True)
        tt_c = LoopCounter(m, fw["t_tiles"], d.t_tiles_m1, "tt", down=True)
        ci_c = LoopCounter(m, fw["cin"], d.cin_m1, "ci", down=True)
        ky_c, kx_c = LoopCounter(m, fw["kernel"], d.kernel_m1, "ky"), LoopCounter(m, fw["kernel"], d.kernel_m1, "kx")
        counters = (kx_c, ky_c, ci_c, tt_c, ox_c, oy_c)
        iy0, ix0 = Signal(coord, name="iy0", reset_less=True), Signal(coord, name="ix0", reset_less=True)
        # addresses modulo the activation buffer's (power-of-two) address range: only their sum's low
        # bits address the memory, so the steps (ADDRESS_FIELDS) are kept and summed in those bits
        abits = fw["pos_start"]
        a_row, a_pos, t_off = (Signal(abits, name=name, reset_less=True) for name in ("a_row", "a_pos", "t_off"))
        w_addr = Signal(fw["wbase"], name="w_addr", reset_less=True)
        v1, pad1, last1 = Signal(), Signal(reset_less=True), Signal(reset_less=True)
        v1b = Signal(name="v1b")            # stage 1b's valid (the stage is built with stage 2, below)

        y, x = Signal(coord), Signal(coord)
        m.d.comb += [y.eq(iy0 + ky_c.value), x.eq(ix0 + kx_c.value)]
        in_range = (y >= 0) & (y < d.in_h) & (x >= 0) & (x < d.in_w)
        # the end-of-loop conditions: ANDs of the counters' end flags (on the iCE40 the comparators'
        # chain they replaced, into the tile counter and the address, was the critical path, 29-31 ns)
        k_last = kx_c.end & ky_c.end & ci_c.end
        pos_last = k_last & tt_c.end
        row_last = pos_last & ox_c.end
        final = row_last & oy_c.end

        ready = self.o_act.ready & self.o_filter.ready
        v2 = Signal()
        # the skid register: the beat stage 2 offered in a cycle the array did not take it, while the
        # pipeline moved on (it saw a free skid register). The pipeline's advance depends on
        # registers only, not on the array's ready (on the ECP5 8x8 engine that ready into every
        # counter's enable was the critical path, 10.8 ns)
        skid_v = Signal(name="skid_valid")
        # The whole pipeline moves, or holds, together: adv = ~v2 | ~skid_valid. It enables every
        # register of the generator, so it is a flip-flop, computed from the next values of v2 and
        # skid_valid (v2' = adv ? v1b : v2, skid_valid' = ~ready & (skid_valid | v2), below), in three
        # copies that Yosys must keep (one each for stage 0 with the memories' read enables, stage 1b and
        # stage 2): on the ECP5 8x16 engine, ~v2 | ~skid_valid wired to every enable was the critical
        # path, 11.3 ns, of which 9.8 routing
        adv_copies = [Signal(init=1, name=f"adv_{n}", attrs={"keep": 1}) for n in ("s0", "s1b", "s2")]
        adv, adv_1b, adv_2 = adv_copies
        v2_next = Mux(adv, v1b, v2)
        skid_next = ~ready & (skid_v | v2)
        m.d.sync += [copy.eq(~v2_next | ~skid_next) for copy in adv_copies]
        # the weight word is read a stage later than the activation word, from stage 1's copy of its
        # address, so that the weight memory's own read register is stage 1b's weight register: a
        # word of R·w bits is not registered twice (at 8x2 Yosys kept 55 of the 64, each a logic
        # cell of its own on the iCE40), and the memory's output still goes straight into stage 2's
        # register
        w_addr1 = Signal(fw["wbase"], name="w_addr1", reset_less=True)
        with m.If(adv):
            m.d.sync += w_addr1.eq(w_addr)
        m.d.comb += [self.o_act_addr.eq(a_pos + t_off), self.o_w_addr.eq(w_addr1), self.o_w_en.eq(adv_1b),
                     self.o_read_en.eq(adv), self.o_act_reg_en.eq(adv_1b),
                     self.o_busy.eq(running | v1 | v1b | v2 | skid_v)]
        # ---- stage 2: the payload, registered
        act2 = Signal(data.ArrayLayout(signed(w), self.engine.array.cols), name="act2", reset_less=True)
        w2 = Signal(data.ArrayLayout(signed(w), self.engine.array.rows), name="w2", reset_less=True)
        last2 = Signal(reset_less=True)
        skip2 = Signal(data.ArrayLayout(signed(w), self.engine.array.cols), name="skip2", reset_less=True) \
            if self.engine.residual else None
        # ---- stage 1b: the memories' words registered as they come (no logic between a block RAM's
        # output and a flip-flop: on the ECP5 its clock-to-output is 5.6 ns, and the word through the
        # zero padding into stage 2 was the 8x16 engine's critical path, 10.2-10.6 ns), with stage 1's
        # flags. The activation words (and a residual add's skip words) are registered in the engine,
        # in each buffer's output register (``o_act_reg_en``, module docstring)
        act1b = self.i_act_data
        pad1b, last1b = Signal(name="pad1b", reset_less=True), Signal(name="last1b", reset_less=True)
        xs1b = Signal.like(self.i_xs_data, name="xs1b", reset_less=True) if self.engine.tile_shift else None
        skip1b = self.i_skip_data if self.engine.residual else None
        with m.If(adv_1b):
            m.d.sync += [v1b.eq(v1), pad1b.eq(pad1), last1b.eq(last1)]
            if self.engine.tile_shift:
                m.d.sync += xs1b.eq(self.i_xs_data)
        with m.If(adv_2):
            m.d.sync += [v2.eq(v1b), last2.eq(last1b), w2.eq(self.i_w_data)]   # the weights' stage 1b
            for c in range(self.engine.array.cols):
                value = Mux(pad1b, 0, act1b[c])        # zero padding
                if self.engine.tile_shift:
                    shifted = self._tile_shift(m, value, xs1b, f"xs{c}")
                    value = Mux(is_residual(d), value, shifted) if self.engine.residual else shifted
                m.d.sync += act2[c].eq(value)
            if self.engine.residual:
                m.d.sync += skip2.eq(skip1b)
        # ---- the output: the skid register's beat while it holds one, else stage 2's
        skid_act, skid_w = Signal.like(act2, name="skid_act"), Signal.like(w2, name="skid_w")
        skid_last = Signal(reset_less=True)
        with m.If(skid_v):
            m.d.comb += [self.o_act.payload.data.eq(skid_act), self.o_act.payload.last.eq(skid_last),
                         self.o_filter.payload.eq(skid_w)]
            with m.If(ready):
                m.d.sync += skid_v.eq(0)
        with m.Else():
            m.d.comb += [self.o_act.payload.data.eq(act2), self.o_act.payload.last.eq(last2),
                         self.o_filter.payload.eq(w2)]
            with m.If(v2 & ~ready):         # stage 2 moves on (adv is high): keep its beat
                m.d.sync += [skid_v.eq(1), skid_act.eq(act2), skid_w.eq(w2), skid_last.eq(last2)]
        m.d.comb += [self.o_act.valid.eq(v2 | skid_v), self.o_filter.valid.eq(v2 | skid_v)]
        if self.engine.residual:
            skid_skip = Signal.like(skip2, name="skid_skip")
            m.d.comb += self.o_skip.eq(Mux(skid_v, skid_skip, skip2))
            with m.If(~skid_v & v2 & ~ready):
                m.d.sync += skid_skip.eq(skip2)

        with m.If(adv):
            m.d.sync += [v1.eq(running), pad1.eq(~in_range), last1.eq(k_last)]
            with m.If(running):
                # step the taps: kx fastest, then ky, then ci
                with m.If(~kx_c.end):
                    kx_c.step(m)
                    m.d.sync += t_off.eq(t_off + 1)
                with m.Elif(~ky_c.end):
                    kx_c.restart(m)
                    ky_c.step(m)
                    m.d.sync += t_off.eq(t_off + d.ky_step)
                with m.Elif(~ci_c.end):
                    kx_c.restart(m)
                    ky_c.restart(m)
                    ci_c.step(m)
                    m.d.sync += t_off.eq(t_off + d.ci_step)
                with m.Else():
                    for counter in (kx_c, ky_c, ci_c):
                        counter.restart(m)
                    m.d.sync += t_off.eq(0)
                # the weight word follows the beats of one position, then returns to wbase
                m.d.sync += w_addr.eq(w_addr + 1)
                with m.If(k_last):
                    with m.If(~tt_c.end):
                        tt_c.step(m)
                    with m.Else():
                        tt_c.restart(m)
                        m.d.sync += w_addr.eq(d.wbase)
                        with m.If(~ox_c.end):
                            ox_c.step(m)
                            m.d.sync += [ix0.eq(ix0 + d.stride), a_pos.eq(a_pos + d.stride)]
                        with m.Else():
                            ox_c.restart(m)
                            oy_c.step(m)
                            m.d.sync += [ix0.eq(-d.padding), iy0.eq(iy0 + d.stride),
                                         a_row.eq(a_row + d.row_step), a_pos.eq(a_row + d.row_step)]
                with m.If(final):
                    m.d.sync += running.eq(0)
        if self.engine.tile_shift:
            # cbase + tt·R_L of the tile at stage 0, read with the activation word
            c_tile = Signal(fw["cbase"], name="c_tile", reset_less=True)
            rows = Mux(is_mul(d), self.engine.mac_rows, self.engine.array.rows) if self.engine.mac_rows \
                else self.engine.array.rows
            m.d.comb += self.o_xs_addr.eq(c_tile)
            with m.If(adv & running & k_last):
                m.d.sync += c_tile.eq(Mux(~tt_c.end, c_tile + rows, d.cbase))
            with m.If(self.i_start):
                m.d.sync += c_tile.eq(d.cbase)
        with m.If(self.i_start):
            m.d.sync += [running.eq(1), iy0.eq(-d.padding), ix0.eq(-d.padding), a_row.eq(d.pos_start),
                         a_pos.eq(d.pos_start), t_off.eq(0), w_addr.eq(d.wbase)]
            for counter in counters:
                counter.restart(m)
        return m

    def _tile_shift(self, m, x, d, name):
        """golden.program.tile_shift of the signed ``width``-bit ``x`` by the signed ``d``: one case
        per shift in X_SHIFT_RANGE, each a wire shift with a saturation or a rounding add."""
        w = self.engine.array.width
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        out = Signal(signed(w), name=name)
        with m.Switch(d):
            for k in range(X_SHIFT_RANGE[0], X_SHIFT_RANGE[1] + 1):
                with m.Case(k):
                    if k > 0:
                        wide = x.as_signed() << k
                        m.d.comb += out.eq(Mux(wide > hi, hi, Mux(wide < lo, lo, wide)))
                    elif k == 0:
                        m.d.comb += out.eq(x)
                    else:
                        m.d.comb += out.eq((x.as_signed() + (1 << (-k - 1))) >> -k)
        return out
