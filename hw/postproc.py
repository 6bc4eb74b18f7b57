"""``PostProcessor``: the drain side of the engine. It turns each output row of the array into the
next layer's activations, bit-exact with ``golden.program`` (steps 2-4 there):

    v = sat_width(relu?((acc·M[t] + B[t] + 2^(S−1)) >> S)),   then 2x2 max pool or global average

(on an engine built with ``rounding`` "half_even", a tie's result has its lowest bit cleared: a
flag per lane, the rounding bit u[S' − 1] set and the low S' − 1 bits of u all 0, formed beside
stage C1 and applied in stage C3).

``acc`` is the signed layer sum (the engine negates the SAD array's unsigned sums; the MAC sums
are signed already). One multiplier per lane (L of them, ``EngineConfig.pp_lanes``) applies M, or
with requant "shift" M's powers of two as shifts and adds; the CNN twin's engine has the same unit,
so the comparison stays fair.

Widths come from the whole range the program format allows, not from today's networks: acc·M
holds ``sum_bits + scale_bits`` bits, u = acc·M + B holds U = ``requant_bits`` bits (one more than
the wider of acc·M and B), and the rounding is (u >> S) + u[S − 1] (the bit below the shift; no
adder adds 2^(S−1) to u), for every S from 0 to MAX_SHIFT, because a shift S >= U is applied as
S' = U, which gives the same result, 0 (:func:`requant_shift`). So the shifter takes 2u, one bit
wider than u, not the MAX_SHIFT + 1 bits that 2^(MAX_SHIFT−1) would otherwise need.

Beats arrive in the order hw.im2col issues tiles: per output position, T-tile by T-tile, rows
r = 0 .. R_L−1 of each tile, so the output channel is t = tt·R_L + r and simply counts
0 .. t_beats − 1 per position. Rows with t >= cout (padding channels of the last T-tile) are
dropped.

Lanes (``EngineConfig.pp_lanes`` = L, P = C / L chunks per row). With L = C the unit takes a row
per cycle and ``i_sum.ready`` is always high. With L < C the datapath below is L lanes wide and a
row of C sums is taken in P chunks, chunk q = lanes q·L .. q·L + L − 1, one per cycle, straight from
the offered payload, which the stream rules hold stable until it is accepted: ``i_sum.ready`` is
high in the cycle of the row's last chunk (q = P − 1), so no row is copied into a register here and
the array's 3-entry output FIFO is the buffer between the C-wide drain and the L lanes. The array
then drains a tile's R rows in R·P cycles instead of R, and holds the next tile's last beat until
the last row is accepted: golden.engine_cycles counts those R·(P − 1) cycles. A chunk's write goes
to its L lanes of the C-lane activation word (``o_wr_lanes``; the words' lanes are images, and the
memory writes per lane); the average pool keeps its sums per chunk (address q + P'·t, P' the next
power of two), the argmax per lane of the word.

Pipeline (a chunk taken in cycle n; ``POSTPROC_STAGES`` = 10 registered stages, so that no stage
holds more than one wide adder, a multiplier or half a barrel shifter (except stage E, whose
average pool adds its running sum and shifts it by log2 n, a 4-bit shift amount; on the iCEBreaker
8x2 engine that is one seed's critical path, 24.0 ns), and no path starts at a block RAM's output
and runs through logic: with the rounding shift in one stage the engine's iCE40 Fmax
was 13.5 MHz; with the pool's read, compare or add, rounding and shift in the write's cycle the
average pool's read-modify-write was the iCE40 engine's critical path (39.6 ns from the pool memory
to the activation buffer), and then the constant table's read data through the shift-only terms'
shifts, negations and sum (39.0 ns, 30 logic levels)):
  * n:   the constant table's read address cbase + t is presented; acc, t and the destination
         address are registered (stage A);
  * n+1: the table's M and B registered (stage A2);
  * n+2: acc·M per lane ("mul"), or each of M's signed powers of two as acc << e and its sign
         ("shift") (stage B);
  * n+3: acc·M, or ±acc·M for "shift", the terms summed with their relative sign (stage B1);
  * n+4: u = acc·M + B, the sign applied in the same adder (stage B2);
  * n+5, n+6: the arithmetic shift of 2u right by S', by its upper three bits and then its lower
         three, to the w + 8 and then the w + 1 bits the result can take (z = u >> S' and the
         rounding bit u[S' − 1] below it), and whether z fits w bits (stages C1, C2);
  * n+7: z + u[S' − 1] (a w-bit adder), ReLU and saturation (stage C3); the destination's old
         value (max pool) or the running sum (average pool) is read;
  * n+8: the reads' data registered (stage D): the running sum here, with v; the destination's
         whole word of C lanes in the destination buffer's own output register in hw.engine
         (``o_rd_reg_en`` its enable), so that the engine's choice of the buffer comes after a
         register, not between the block RAM and one;
  * n+9: the pool (stage E, registered): with L < C the chunk's L lanes of the registered word
         selected; whether v is written rather than the old value (max pool: v > old, or the first
         position of a 2x2 window, which overwrites; otherwise always), with v and the old value;
         for the average pool the running sum old + v, which starts at n/2 + v on the first
         position (one adder), and beside it that sum shifted, (n/2 + Σv) >> log2 n, the average
         the last position writes;
  * n+10: the write to the destination, from stage E's registers: v or the old value as stage E
         chose, or for the average pool at the last position the average; the running sum goes
         back to the pool memory (not at the last position). ``o_done`` is high in the cycle after
         the layer's last write.
A destination (or running-sum) address is read and written again only for another position, which
arrives at least one tile period (>= G >= 4 cycles) later: its read at n'+7 >= n+11 comes after the
write at n+10, so the read always sees the previous write. With L < C a row's P chunks share their
destination word: it is read for the first chunk only (``o_rd_en``) and held in stage D's register
for the others, each of which takes its own lanes from it, so no read of the activation buffer
falls in the cycle of a write to the same word (chunk q + 3's read would fall in chunk q's write),
whatever lanes each block RAM holds (hw.engine, "Memories"; the running sums have an address per
chunk). (With the reads' data into the compare or the add in one cycle, the ECP5 8x8 engine's
critical path was the activation buffer's read into the max pool's compare, 14.7 ns.)
The last layer's rows also feed a running argmax per lane (first maximum wins): ``o_class``, final
in the cycle after ``o_done`` rises (the cycle hw.sequencer raises the engine's ``o_done``).

The residual add (``EngineConfig.residual``; golden.program.residual_add): a residual step's rows
are not array sums but the main operand a (in ``data``, sign-extended) and the skip operand b (in
``skip``) of one channel of C images, streamed by hw.im2col in the same order as a layer's rows
(position by position, channel t = 0 .. C_ch − 1). The requantisation's stages compute the add:
stage A2 shifts a and b left by the upper three bits of ``main_shift`` / ``skip_shift`` (0, 8, ..
40), stage B by the lower three, stage B1 sums them in place of acc·M, stage B2 adds no B, and from there on the step is a layer's: the arithmetic shift right by
S, ReLU, saturation, pooling and the write. Widths from the whole range the program format allows
(:func:`residual_bits`): a·2^la + b·2^lb with la, lb <= ADD_SHIFT_MAX is a signed width +
ADD_SHIFT_MAX + 1-bit number, so U, the width of the requantisation's sum, is at least that on an
engine built with ``residual`` (:func:`requant_bits`), and S <= ADD_SHIFT_MAX < U is never clamped.
A pooled residual step's positions are C_ch·P cycles apart, not a tile period, so for the
read-after-write distance above it must have C_ch·P >= 4 with the average pool (its running sums
have an address per chunk) and C_ch·P >= P + 3 with the max pool (a destination word is read for
its first chunk, 3 cycles after the previous position's last chunk wrote it);
golden.program.memory_images refuses fewer. A layer's positions are a tile period apart, which the
drain's waits stretch by R·(P − 1) (golden.engine_cycles), so at least G + P − 1 >= P + 3 cycles.

Members
-------
i_start : In(1)                  begin a layer; ``i_desc`` is held stable until ``o_done``
i_desc : In(descriptor_layout)
i_sum : In(stream.Signature({data: ArrayLayout(signed(acc_bits), C), last: 1}))   ready every P-th cycle;
    with ``residual`` also ``skip``: ArrayLayout(signed(width), C), a residual add's second operand
o_const_addr : Out, o_const_en : Out(1), i_const_data : In({scale, bias})   the constant table
o_rd_addr : Out, o_rd_en : Out(1), i_rd_data : In(ArrayLayout(signed(width), C))   destination read:
    ``i_rd_data`` is the destination buffer's output register, which takes the word read at the
    address of the last ``o_rd_en`` in each cycle ``o_rd_reg_en`` is high (two cycles after its address)
o_rd_reg_en : Out(1)
o_wr_addr : Out, o_wr_en : Out(1), o_wr_data : Out(ArrayLayout(signed(width), C))  destination write
o_wr_lanes : Out(C)              the lanes the write changes (all of them when L = C)
o_done : Out(1)
o_class : Out(ArrayLayout(unsigned(class bits), C))   argmax of the last layer's rows, per lane
o_collided : Out(1)              only with ``poison_collisions`` (hw.collision): the running sums'
    read data is poisoned in this cycle
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import ADD_SHIFT_MAX, GAP_EXTRA_BITS, MAX_SHIFT, SHIFT_BITS
from adderhw.base.requant import code_bits, exp_bits

from .collision import poisoned
from .descriptor import POOL_GAP, POOL_MAX2, descriptor_layout, has_relu, is_last, is_residual, pool_kind
from .loop_counter import LoopCounter
from .skew import RingDelay, ram_style

__all__ = ["PostProcessor", "const_layout", "scale_terms", "add_signed", "sum_bits", "requant_bits", "residual_bits", "requant_shift",
           "GAP_EXTRA_BITS"]


def const_layout(engine):
    """One constant-table entry: M (signed ``scale_bits``) and B; on a shift-only engine M's place
    holds its term code (adderhw.base.requant, unsigned)."""
    scale = signed(engine.scale_bits) if engine.requant == "mul" else \
        unsigned(code_bits(engine.scale_bits, engine.shift_terms))
    return data.StructLayout({"scale": scale, "bias": signed(engine.bias_bits)})


def scale_terms(code, acc, engine):
    """The terms of acc·M on a shift-only engine, from M's term code: for each term its magnitude
    acc << e (0 for a disabled term) and whether it is subtracted, as shifts only (no multiplier;
    PostProcessor's adders apply the signs, so no stage holds a shift and a negation in series).
    acc·M is Σ ±(acc << e). A term's shift reaches 2^E − 1 >= scale_bits − 1 (E = exp_bits), but a
    legal code has e < scale_bits, so |acc·M| fits acc·M's width as the multiplier's product does."""
    eb = exp_bits(engine.scale_bits)
    tb = 2 + eb
    out = []
    for i in range(engine.shift_terms):
        term = code[i * tb:(i + 1) * tb]
        out.append((Mux(term[0], acc << term[2:], 0), term[0] & term[1]))
    return out


def add_signed(m, a, b, negate, shape, name):
    """a + (−b if ``negate`` else b), one adder: (2a + negate) + (2(b XOR negate…negate) + negate),
    halved, with the carry-in in bit 0 of both operands; the result modulo 2^width of ``shape``,
    which must hold the true value."""
    width = shape.width
    x, y = Signal(shape, name=f"{name}_a"), Signal(shape, name=f"{name}_b")
    m.d.comb += [x.eq(a), y.eq(b)]
    return (Cat(negate, x) + Cat(negate, y ^ negate.replicate(width)))[1:width + 1].as_signed()


def sum_bits(engine):
    """Signed width of the layer sums the engine feeds in: the wider of −SAD and the MAC sum."""
    bits = 2
    for op in engine.ops:
        a = engine.array_for(op)
        bits = max(bits, a.acc_width + (0 if a.acc_signed else 1))
    return bits


def residual_bits(engine):
    """Signed width of a residual add's aligned sum a·2^la + b·2^lb for any signed ``width``-bit a, b
    and la, lb <= ADD_SHIFT_MAX: |a·2^la| <= 2^(width − 1 + ADD_SHIFT_MAX), so the sum lies in
    [−2^(width + ADD_SHIFT_MAX), 2^(width + ADD_SHIFT_MAX))."""
    return engine.array.width + ADD_SHIFT_MAX + 1


def requant_bits(engine):
    """Signed width U of acc·M + B for any acc the engine feeds in and any M, B its table holds; on an
    engine built with ``residual`` also of any residual add's aligned sum (:func:`residual_bits`)."""
    u = max(sum_bits(engine) + engine.scale_bits, engine.bias_bits) + 1
    return max(u, residual_bits(engine)) if engine.residual else u


def requant_shift(m, shift, u_bits):
    """The shift S' the post-processing applies for a descriptor's S (u = acc·M + B is a signed
    ``u_bits``-bit value, U below; the rounded result is (u >> S') + u[S' − 1], the bits of
    2u >> S', whose U + 1 bits the post-processing shifts).

    Every S up to MAX_SHIFT is held without widening the datapath to MAX_SHIFT bits: for S >= U,
    u + 2^(S−1) lies in [0, 2^S) whatever u is, so the result is 0, and S' = min(S, U) gives that
    same 0 ((u >> U) + u[U − 1] is −1 + 1 or 0 + 0). S' is registered, so the clamp's 6-bit
    comparator stays off the datapath: a chunk's stage C1 reads it five cycles after the chunk is
    taken, and the descriptor is held from i_start to o_done. An engine whose u is wider than
    MAX_SHIFT never clamps."""
    s = shift[:SHIFT_BITS]
    if u_bits > MAX_SHIFT:
        return s
    clamped = Signal(SHIFT_BITS, name="requant_shift")
    m.d.sync += clamped.eq(Mux(s > u_bits, u_bits, s))
    return clamped


class PostProcessor(wiring.Component):
    def __init__(self, engine, poison_collisions=False):
        self.engine = engine
        self.poison_collisions = poison_collisions
        a = engine.array
        w, C = a.width, a.cols
        self.acc_bits = sum_bits(engine)
        self.u_bits = requant_bits(engine)
        self.class_bits = max(1, ceil_log2(engine.const_depth))
        row = {"data": data.ArrayLayout(signed(self.acc_bits), C), "last": 1}
        if engine.residual:
            row["skip"] = data.ArrayLayout(signed(w), C)
        super().__init__({
            "i_start": In(1),
            "i_desc": In(descriptor_layout(engine)),
            "i_sum": In(stream.Signature(data.StructLayout(row))),
            "o_const_addr": Out(ceil_log2(engine.const_depth)),
            "o_const_en": Out(1),
            "i_const_data": In(const_layout(engine)),
            "o_rd_addr": Out(ceil_log2(engine.act_depth)),
            "o_rd_en": Out(1),
            "o_rd_reg_en": Out(1),
            "i_rd_data": In(data.ArrayLayout(signed(w), C)),
            "o_wr_addr": Out(ceil_log2(engine.act_depth)),
            "o_wr_en": Out(1),
            "o_wr_data": Out(data.ArrayLayout(signed(w), C)),
            "o_wr_lanes": Out(C),
            "o_done": Out(1),
            "o_class": Out(data.ArrayLayout(unsigned(self.class_bits), C)),
            **({"o_collided": Out(1)} if poison_collisions else {}),
        })

    def elaborate(self, platform):
        m = Module()
        e, d = self.engine, self.i_desc
        w, C, fw = e.array.width, e.array.cols, e.field_widths
        L, P = e.pp_lanes, e.post_chunks
        qb = ceil_log2(P)                    # bits of a chunk index (0 when L = C)
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        gap_shape = signed(w + GAP_EXTRA_BITS)
        m.submodules.gap_mem = gap_mem = memory.Memory(
            shape=data.ArrayLayout(gap_shape, L), depth=e.const_depth << qb, init=[])
        gap_rd = gap_mem.read_port(transparent_for=())
        gap_wr = gap_mem.write_port()

        # ---- the chunk of the offered row that enters the pipeline this cycle (L = C: the row)
        take = self.i_sum.valid
        if P > 1:
            q = Signal(qb, name="chunk")
            q_last = q == P - 1
            beat = take & q_last                 # the row is accepted with its last chunk
            m.d.comb += self.i_sum.ready.eq(q_last)
            with m.If(take):
                m.d.sync += q.eq(Mux(q_last, 0, q + 1))
            with m.If(self.i_start):
                m.d.sync += q.eq(0)
            chunk = Signal(data.ArrayLayout(signed(self.acc_bits), L), name="chunk_data")
            skip = Signal(data.ArrayLayout(signed(w), L), name="chunk_skip") if e.residual else None
            with m.Switch(q):
                for i in range(P):
                    with m.Case(i):
                        m.d.comb += [chunk[lane].eq(self.i_sum.payload.data[i * L + lane]) for lane in range(L)]
                        if e.residual:
                            m.d.comb += [skip[lane].eq(self.i_sum.payload.skip[i * L + lane]) for lane in range(L)]
        else:
            beat = take
            m.d.comb += self.i_sum.ready.eq(1)
            chunk = self.i_sum.payload.data
            skip = self.i_sum.payload.skip if e.residual else None

        # ---- beat counters: channel t within the position, and the position
        # (widths: EngineConfig.field_widths; the destination's address and its parts modulo the
        # activation buffer's address range, of which only a kept row's address is ever used)
        abits = len(self.o_wr_addr)
        # The counters (hw.loop_counter: reset_less, loaded by i_start, each with a registered flag
        # high while it is at its bound, the bound less one as the sequencer registers it), so the
        # end-of-position and end-of-layer conditions are ANDs of flip-flops: through the comparators
        # of ox with its bound into the row address's enable was the iCE40 engine's critical path
        # (25.7 ns, 7 logic levels). t_zero (t == 0), t_kept (t < cout) and pos_zero (the layer's
        # first position) are flags of the same kind.
        t_c = LoopCounter(m, fw["t_beats"], d.t_beats_m1, "t")
        ox_c, oy_c = LoopCounter(m, fw["out_w"], d.out_w_m1, "pp_ox"), LoopCounter(m, fw["out_h"], d.out_h_m1, "pp_oy")
        t, ox, oy = t_c.value, ox_c.value, oy_c.value
        tplane = Signal(abits, name="tplane", reset_less=True)
        pidx, prow = Signal(abits, name="pidx", reset_less=True), Signal(abits, name="prow", reset_less=True)
        t_zero, t_kept, pos_zero = (Signal(name=name, reset_less=True) for name in ("t_zero", "t_kept", "pos_zero"))
        pool = pool_kind(d)
        pos_last = ox_c.end & oy_c.end
        t_last = t_c.end
        pos_off = Signal(abits)
        with m.Switch(pool):
            with m.Case(POOL_MAX2):
                m.d.comb += pos_off.eq(prow + (ox >> 1))
            with m.Case(POOL_GAP):
                m.d.comb += pos_off.eq(0)
            with m.Default():
                m.d.comb += pos_off.eq(pidx)
        m.d.comb += [self.o_const_addr.eq(d.cbase + t), self.o_const_en.eq(1)]
        with m.If(beat):
            with m.If(~t_last):
                t_c.step(m)
                m.d.sync += [tplane.eq(tplane + d.dst_plane), t_zero.eq(0), t_kept.eq(t + 1 < d.cout)]
            with m.Else():
                t_c.restart(m)
                m.d.sync += [tplane.eq(0), pidx.eq(pidx + 1), t_zero.eq(1), t_kept.eq(1), pos_zero.eq(0)]
                with m.If(~ox_c.end):
                    ox_c.step(m)
                with m.Else():
                    ox_c.restart(m)
                    oy_c.step(m)
                    with m.If(oy[0]):
                        m.d.sync += prow.eq(prow + d.dst_w)
        with m.If(self.i_start):
            for counter in (t_c, ox_c, oy_c):
                counter.restart(m)
            m.d.sync += [tplane.eq(0), pidx.eq(0), prow.eq(0),
                         t_zero.eq(1), t_kept.eq(1), pos_zero.eq(1)]      # a layer has cout >= 1

        # ---- the sideband of a chunk: registered at stage A, carried to stage C2 as below, then registered again
        # t is carried in the bits of a constant-table entry: a kept row's channel is below cout
        side = data.StructLayout({"v": 1, "t": self.class_bits, "t0": 1, "dst": abits, "first": 1, "lastpos": 1,
                                  "end": 1, **({"q": qb} if P > 1 else {})})
        # Stages A2 to C2 only pass it on: a chunk's valid and end flags in flip-flops (reset with the
        # engine), its data (channel, destination, window flags) in a 6-cycle hw.skew.RingDelay, a
        # block RAM on the iCE40 (2·18 flip-flops instead of 6·18; Yosys's ram_style hint)
        stage = {i: Signal(side, name=f"side_{n}") for i, n in ((0, "a"), (6, "c2"), (7, "c3"))}
        flags = [Signal(2, name=f"flags_{n}") for n in ("a2", "b", "b1", "b2", "c1", "c2")]
        m.submodules.side_ring = ring = RingDelay(side, 6, name="side", ram_style=ram_style(platform))
        m.d.comb += [ring.i_data.eq(stage[0]), stage[6].eq(ring.o_data),
                     stage[6].v.eq(flags[5][0]), stage[6].end.eq(flags[5][1])]

        def advance(i):
            if i <= 6:                  # flags[i − 1] holds stage i's valid and end
                m.d.sync += flags[i - 1].eq(Cat(stage[0].v, stage[0].end) if i == 1 else flags[i - 2])
            else:
                m.d.sync += stage[i].eq(stage[i - 1])

        # ---- stage A: the chunk, and the constant table's address (its data comes in stage A2)
        acc_a = Signal(data.ArrayLayout(signed(self.acc_bits), L))
        first = Mux(pool == POOL_MAX2, ~oy[0] & ~ox[0], pos_zero)
        m.d.sync += [acc_a.eq(chunk), stage[0].v.eq(take & t_kept), stage[0].t.eq(t), stage[0].t0.eq(t_zero),
                     stage[0].dst.eq(tplane + pos_off), stage[0].first.eq(first), stage[0].lastpos.eq(pos_last),
                     stage[0].end.eq(beat & pos_last & t_last)]
        if P > 1:
            m.d.sync += stage[0].q.eq(q)
        # ---- stage A2: the constant table's read data registered, with the chunk (no path from a
        # block RAM's output through logic)
        const = Signal(const_layout(e), name="const_a2")
        acc_a2 = Signal(data.ArrayLayout(signed(self.acc_bits), L), name="acc_a2")
        m.d.sync += [const.eq(self.i_const_data), acc_a2.eq(acc_a)]
        if e.residual:
            # the residual add's operands, shifted left by the upper three bits of la and lb
            res = is_residual(d)
            la, lb = d.main_shift[:6], d.skip_shift[:6]
            skip_a = Signal(data.ArrayLayout(signed(w), L), name="skip_a")
            m.d.sync += skip_a.eq(skip)
            aligned = signed(w + ADD_SHIFT_MAX)          # a·2^la for any la <= ADD_SHIFT_MAX
            main_a2 = Signal(data.ArrayLayout(aligned, L), name="res_main_a2")
            skip_a2 = Signal(data.ArrayLayout(aligned, L), name="res_skip_a2")
            for c in range(L):
                m.d.sync += [main_a2[c].eq(acc_a[c] << Cat(Const(0, 3), la[3:])),
                             skip_a2[c].eq(skip_a[c] << Cat(Const(0, 3), lb[3:]))]
        advance(1)
        # ---- stage B: requant "mul": acc·M per lane (a multiplier, DSP-mapped where there are DSPs);
        # "shift": each of M's one or two signed powers of two as a shift and a negation; B, delayed
        shift = requant_shift(m, d.shift, self.u_bits)
        prod_shape = signed(self.acc_bits + e.scale_bits)          # any acc·M, exactly
        if e.residual:                                             # and any a·2^la + b·2^lb
            prod_shape = signed(max(prod_shape.width, residual_bits(e)))
        n_terms = 1 if e.requant == "mul" else e.shift_terms
        terms = [Signal(data.ArrayLayout(prod_shape, L), name=f"term{i}") for i in range(n_terms)]
        negs = [Signal(name=f"term{i}_neg") for i in range(n_terms)]     # the term is subtracted
        for c in range(L):
            if e.requant == "mul":
                m.d.sync += terms[0][c].eq(acc_a2[c] * const.scale)
            else:
                for i, (mag, neg) in enumerate(scale_terms(const.scale, acc_a2[c], e)):
                    m.d.sync += terms[i][c].eq(mag)
                    if c == 0:                   # the code is the channel's, the same for every lane
                        m.d.sync += negs[i].eq(neg)
        u_shape = signed(self.u_bits)
        bias_b = Signal(signed(e.bias_bits), name="bias_b")
        if e.residual:              # a residual add has no B
            m.d.sync += bias_b.eq(Mux(res, 0, const.bias))
            main_b = Signal(data.ArrayLayout(aligned, L), name="res_main_b")
            skip_b = Signal(data.ArrayLayout(aligned, L), name="res_skip_b")
            for c in range(L):
                m.d.sync += [main_b[c].eq(main_a2[c] << la[:3]), skip_b[c].eq(skip_a2[c] << lb[:3])]
        else:
            m.d.sync += bias_b.eq(const.bias)
        advance(2)
        # ---- stage B1: ±acc·M, the terms summed with their relative sign (one adder: term 0 ± term 1,
        # as ±a ± b = ±(a ± b)), the outer sign (term 0's) carried to B2; "mul": the product,
        # delayed; a residual add's a·2^la + b·2^lb. (With each term's shift and negation in stage B,
        # the iCE40 engine's critical path ran from the constant register through both, 30.2 ns.)
        prod = Signal(data.ArrayLayout(prod_shape, L))
        prod_neg = Signal(name="prod_neg")
        for c in range(L):
            if n_terms > 1:
                value = add_signed(m, terms[0][c], terms[1][c], negs[0] ^ negs[1], prod_shape, f"terms{c}")
            else:
                value = terms[0][c]
            if e.residual:
                value = Mux(res, main_b[c] + skip_b[c], value)
            m.d.sync += prod[c].eq(value)
        outer = negs[0] if e.requant == "shift" else Const(0, 1)
        m.d.sync += prod_neg.eq(outer & ~res if e.residual else outer)
        bias_b1 = Signal(signed(e.bias_bits), name="bias_b1")
        m.d.sync += bias_b1.eq(bias_b)
        advance(3)
        # ---- stage B2: u = B ± (the terms' sum) = acc·M + B (U bits; one adder, the sign its carry-in)
        total = Signal(data.ArrayLayout(u_shape, L))
        for c in range(L):
            m.d.sync += total[c].eq(add_signed(m, bias_b1, prod[c], prod_neg, u_shape, f"u{c}"))
        advance(4)
        # ---- stages C1, C2, C3: the rounding shift, as (u + 2^(S'−1)) >> S' = (u >> S') + u[S'−1]
        # (u[−1] = 0: S' = 0 rounds nothing), so no adder as wide as u adds the rounding half: only
        # z = u >> S' and the bit below it, rb, are needed, as the w + 1 bits of 2u >> S' (the sign
        # beyond U), and r = z + rb is saturated to ``width`` bits, so only z's low w bits and whether
        # r fits w bits are needed. The coarse step (by 8·⌊S'/8⌋, stage C1) keeps w + 8 bits, all that
        # the fine step (by S' mod 8, stage C2) selects from, and the fine step keeps w + 1. Whether z
        # fits is decided from u beside them: z's bits from w − 1 up are u's from S' + w − 1 up, so z
        # fits where u's bits under ``fit_mask`` (all ones << (S' + w − 1), constant within a layer
        # and registered) are all 0 or all 1, two reductions in stage C1; with u's sign, delayed
        # through C2. r fits where z does, except z = hi with rb = 1 (r = hi + 1, saturated to hi);
        # z = lo − 1 with rb = 1 gives r = lo, which saturation to lo gives too. For ReLU and the
        # saturation's side, r's sign is u's: u < 0 gives r <= 0. (Until issue 28 the rounding half
        # was added to B and then to acc·M, two adders of U + 1 bits, and shifted with u; the iCE40
        # digits engine's post-processing took 53 LUT4 and 47 flip-flops more. Shifting all U + 1
        # bits in both steps, the ECP5 8x16 MNIST engine's post-processing with 4 lanes took 3,530
        # LUT4 against 3,320 with these narrow steps; nextpnr seed 1.)
        ub = u_shape.width
        coarse = Signal(data.ArrayLayout(signed(w + 8), L), name="coarse")
        shifted = Signal(data.ArrayLayout(unsigned(w + 1), L), name="shifted")
        for c in range(L):
            m.d.sync += [coarse[c].eq(Cat(Const(0, 1), total[c]).as_signed() >> Cat(Const(0, 3), shift[3:])),
                         shifted[c].eq(coarse[c] >> shift[:3])]
        fit_mask = Signal(ub, name="fit_mask")
        m.d.sync += fit_mask.eq(Const((1 << ub) - 1, ub) << (shift + (w - 1)))
        fits_c1, neg_c1 = Signal(L, name="fits_c1"), Signal(L, name="neg_c1")
        fits, neg = Signal(L, name="fits_c2"), Signal(L, name="neg_c2")
        for c in range(L):
            upper = total[c].as_unsigned() & fit_mask
            m.d.sync += [fits_c1[c].eq((upper == 0) | (upper == fit_mask)), neg_c1[c].eq(total[c][-1])]
        m.d.sync += [fits.eq(fits_c1), neg.eq(neg_c1)]
        tie_low = None
        if e.rounding == "half_even":
            # ties to even (golden.program.round_shift): u is exactly halfway where rb = 1 and u's low
            # S' − 1 bits are all 0 (S' > 0); r = z + 1 is then the upper neighbour, and stage C3
            # clears its lowest bit. The mask ~(all ones << (S' − 1)) is constant within a layer and
            # registered; the flag is a reduction beside stage C1's shift, delayed through C2
            ones = (1 << ub) - 1
            low_mask = Signal(ub, name="tie_mask")
            rounds = Signal(name="tie_rounds")
            m.d.sync += [low_mask.eq(~(Const(ones, ub) << (shift - 1)[:SHIFT_BITS])), rounds.eq(shift != 0)]
            tie_c1 = Signal(L, name="tie_c1")
            tie_low = Signal(L, name="tie_c2")
            m.d.sync += [tie_c1[c].eq(rounds & ~(total[c] & low_mask).any()) for c in range(L)]
            m.d.sync += tie_low.eq(tie_c1)
        advance(5)
        advance(6)
        # ---- stage C3: the rounding bit added, ReLU, saturate; read what the write needs.
        # sat(relu(r)) = 0 for a negative u with ReLU, else r's low w bits where r fits, or hi / lo by
        # u's sign
        vals = Signal(data.ArrayLayout(signed(w), L))
        for c in range(L):
            rb, z = shifted[c][0], shifted[c][1:]
            r = Signal(w, name=f"rounded{c}")
            m.d.comb += r.eq(z + rb)
            if tie_low is not None:
                r = Cat(r[0] & ~(tie_low[c] & rb), r[1:])
            r_fits = fits[c] & ~(rb & (z == (hi & ((1 << w) - 1))))
            sat = Mux(r_fits, r.as_signed(), Mux(neg[c], lo, hi))
            m.d.sync += vals[c].eq(Mux(has_relu(d) & neg[c], 0, sat))
        advance(7)
        pre, last_stage = stage[6], stage[7]
        gap_addr = (lambda s: Cat(s.q, s.t)) if P > 1 else (lambda s: s.t)
        # with L < C the destination word is read once per row, for its first chunk (q = 0), and held
        # in stage D's register for the others: a row's chunks share the word, and chunk q + 3's read
        # would otherwise fall in the cycle of chunk q's write to it (other lanes of the same address)
        first_chunk = (pre.q == 0) if P > 1 else 1
        m.d.comb += [self.o_rd_addr.eq(pre.dst), self.o_rd_en.eq(first_chunk), gap_rd.addr.eq(gap_addr(pre)),
                     gap_rd.en.eq(1)]
        # ---- stage D: the reads' data registered (no path from a block RAM's output through logic),
        # with v; and n/2, the average pool's rounding half (constant within a layer)
        side_d, side_e = Signal(side, name="side_d"), Signal(side, name="side_e")
        m.d.sync += [side_d.eq(last_stage), side_e.eq(side_d)]
        log2 = d.gap_log2[:4]       # at most GAP_EXTRA_BITS
        gap_half = Signal(gap_shape, name="gap_half")
        m.d.sync += gap_half.eq(Mux(log2 == 0, 0, Const(1, gap_shape) << (log2 - 1)[:4]))   # constant per layer
        # the destination's whole word (all C lanes), in the destination buffer's output register
        # (hw.engine), which takes it for a row's first chunk and holds it for the others: with L < C
        # the chunk's lanes are selected from that register in stage E, not between the block RAM
        # and it (that selection after the activation buffer's read was the ECP5 8x16 engine's
        # critical path, 11.3 ns)
        m.d.comb += self.o_rd_reg_en.eq((last_stage.q == 0) if P > 1 else 1)
        word_d = self.i_rd_data
        gap_d = Signal(data.ArrayLayout(gap_shape, L), name="gap_old_d")
        v_d = Signal(data.ArrayLayout(signed(w), L), name="v_d")
        gap_data, gap_hit = poisoned(m, gap_rd, gap_wr, gap_mem.shape, self.poison_collisions, "gap")
        if gap_hit is not None:
            m.d.comb += self.o_collided.eq(gap_hit)
        m.d.sync += [gap_d.eq(gap_data), v_d.eq(vals)]
        if P > 1:
            old_d = Signal(data.ArrayLayout(signed(w), L), name="old_chunk_d")
            with m.Switch(side_d.q):
                for i in range(P):
                    with m.Case(i):
                        m.d.comb += [old_d[lane].eq(word_d[i * L + lane]) for lane in range(L)]
        else:
            old_d = word_d
        # ---- stage E: the pool (one compare, or for the average pool the running sum, one adder),
        # registered. The running sum starts at the rounding half n/2, so at the last position it
        # is already Σv + n/2 and needs only the shift: n/2 + Σv of n <= 2^GAP_EXTRA_BITS signed
        # w-bit values lies in [−2^(w+11), 2^(w+11) − 2^11], within gap_shape (w + 12 bits). (A
        # second adder formed the rounding sum beside the running sum until issue 28: 21 LUT4
        # and 42 flip-flops more on the iCE40 digits engine.)
        # The average (the running sum shifted by log2 n) is registered here too: shifted from gsum_e
        # in the write's cycle, through the multiplexers into the activation buffer's write data, it
        # was the ECP5 8x16 engine's critical path (10.7 ns, 5 logic levels)
        # The max pool's choice is registered here as a flag per lane, beside v and the old value, and
        # made in the write's cycle: with the chosen value registered here, the chunk's old value
        # (from the destination buffer's output register through the choice of the buffer and of the
        # chunk's lanes) through the compare and the choice was the ECP5 8x16 engine's critical path
        # (10.4-10.9 ns, 13-17 logic levels)
        # (v_e holds what the argmax's v_f holds: ``keep`` on both stops Yosys from merging the two,
        # which put one register between the write and the argmax's compare, and that wire on the
        # ECP5 8x16 engine's critical path, 9.6 ns; with ``keep`` on one of them the other was still
        # merged into it)
        take_v_e = Signal(L, name="take_v_e")
        v_e = Signal(data.ArrayLayout(signed(w), L), name="v_e", attrs={"keep": 1})
        old_e = Signal(data.ArrayLayout(signed(w), L), name="old_e")
        gsum_e = Signal(data.ArrayLayout(gap_shape, L), name="gap_sum_e")
        avg_e = Signal(data.ArrayLayout(signed(w), L), name="gap_avg_e")
        first_d = side_d.first
        for c in range(L):
            base = Mux(first_d, gap_half, gap_d[c])
            total = Signal(gap_shape, name=f"gap_total{c}")
            m.d.comb += total.eq(base + v_d[c])
            m.d.sync += [take_v_e[c].eq((pool != POOL_MAX2) | first_d | (v_d[c] > old_d[c])), v_e[c].eq(v_d[c]),
                         old_e[c].eq(old_d[c]), gsum_e[c].eq(total), avg_e[c].eq(total >> log2)]
        # the running sum back to the pool memory (not at the last position), with the write
        m.d.comb += [gap_wr.addr.eq(gap_addr(side_e)), gap_wr.data.eq(gsum_e),
                     gap_wr.en.eq((pool == POOL_GAP) & side_e.v & ~side_e.lastpos)]
        # ---- stage F: the write, of the chunk's L lanes
        m.d.comb += self.o_wr_addr.eq(side_e.dst)
        if P > 1:
            with m.Switch(side_e.q):
                for i in range(P):
                    with m.Case(i):
                        m.d.comb += self.o_wr_lanes.eq(((1 << L) - 1) << (i * L))
        else:
            m.d.comb += self.o_wr_lanes.eq((1 << C) - 1)
        out = Signal(data.ArrayLayout(signed(w), L), name="chunk_out")
        m.d.comb += [self.o_wr_data[c].eq(out[c % L]) for c in range(C)]
        with m.If(pool == POOL_GAP):
            m.d.comb += out.eq(avg_e)
            m.d.comb += self.o_wr_en.eq(side_e.v & side_e.lastpos)
        with m.Else():
            m.d.comb += [out[c].eq(Mux(take_v_e[c], v_e[c], old_e[c])) for c in range(L)]
            m.d.comb += self.o_wr_en.eq(side_e.v)
        # ---- the last layer's argmax, per lane of the word (the first maximum wins), in stage F from
        # registers: stage D's values and sideband registered once more beside it (from ``vals`` and
        # a 16-bit t == 0 it was the ECP5 8x8 engine's critical path, 10.8 ns; then, from stage D's
        # values across the chip into the comparison, the 8x16 engine's, 10.3 ns). Its last update
        # is at the end of stage E's cycle.
        v_f = Signal.like(v_d, name="argmax_v", attrs={"keep": 1})
        t_f, t0_f = Signal.like(side_d.t, name="argmax_t"), Signal(name="argmax_t0")
        mine_f = Signal(C, name="argmax_mine")
        m.d.sync += [v_f.eq(v_d), t_f.eq(side_d.t), t0_f.eq(side_d.t0)]
        for c in range(C):
            mine = side_d.v & is_last(d)
            if P > 1:
                mine = mine & (side_d.q == c // L)
            m.d.sync += mine_f[c].eq(mine)
        # The running maximum and its class stay beside the comparison; o_class copies the class a
        # cycle later (its readers sit elsewhere: the link's executor; across the chip the enable of
        # o_class was the ECP5 8x16 engine's critical path, 9.9 ns). The copy is final in the cycle
        # after o_done rises, when the sequencer raises the engine's o_done.
        # best and cls are set at the last layer's first channel (t0) of every image before anything
        # reads them, so they need no reset: on the iCE40 a synchronous reset joins the enable's
        # logic, and the comparison into best's enable was the 8x2 engine's critical path (23.3 ns,
        # 7 logic levels)
        best = Signal(data.ArrayLayout(signed(w), C), name="best", reset_less=True)
        cls = Signal(self.o_class.shape(), name="argmax_class", reset_less=True)
        for c in range(C):
            with m.If(mine_f[c]):
                with m.If(t0_f | (v_f[c % L] > best[c])):
                    m.d.sync += [best[c].eq(v_f[c % L]), cls[c].eq(t_f)]
        m.d.sync += self.o_class.eq(cls)
        done = Signal()
        m.d.sync += done.eq(side_e.end)
        m.d.comb += self.o_done.eq(done)
        return m
