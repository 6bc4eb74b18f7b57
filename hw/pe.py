"""Processing elements: ``SadPE`` (subtract → abs → accumulate) and ``MacPE`` (multiply → accumulate).

Both have the same ports and the same role in the systolic array, so the array does not know
which kind it holds; only the arithmetic between the operand registers and the accumulator differs.

Protocol (per PE, one clock domain ``sync``):
  * Every cycle the PE forwards its operands with one register: ``o_a`` ← ``i_a`` (to the right),
    ``o_b``/``o_valid``/``o_last`` ← ``i_b``/``i_valid``/``i_last`` (downwards). In a broadcast
    array (``config.dataflow``, hw.array) nothing reads ``o_a`` and ``o_b``, and synthesis removes
    those registers; the valid and last registers stay, as the first stage's flags.
  * A term enters when ``i_valid`` is high. ``stages`` cycles later it has been added to the
    accumulator. If ``i_last`` was high with it, the final sum is written to the result register
    ``o_sum`` (the second buffer of the double-buffered accumulator) and the accumulator restarts
    at zero, so the next term begins the next tile with no idle cycle.
  * ``o_capture`` is high in the cycle whose clock edge writes ``o_sum``.
  * The result registers of a column form the array's drain chain (see ``hw.drain``): when
    ``i_shift`` is high (and no capture), ``o_sum`` takes ``i_below``, the result of the PE
    below, so finished sums move up one row per shift. The array never shifts and captures a PE in
    the same cycle; capture would win.

Widths: operands signed ``width``; SAD accumulator unsigned, MAC accumulator signed, both
``config.acc_width`` bits (the worst case over ``k_max`` terms, so they cannot overflow).

Reset: ``i_rst`` (a leaf of the array's reset tree, hw.reset) clears the control bits (valid,
last) and the accumulator; the domain reset reaches no register of the PE, so that no reset net
spans the array. The accumulator's clear shares one synchronous-clear condition with the end of a
tile (``i_rst`` or last term), so it costs one gate per PE rather than a multiplexer per bit. Data
registers (operands, differences, products, the result register) need no reset, because nothing
reads them before a valid term has passed through; leaving it out saves logic on FPGAs whose
flip-flops have a single synchronous set/reset input. The MAC twin follows the same rules, so the
comparison is fair.
"""
from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter

from .dsp import mult18x18d, registered_dsp
from .mutation import fires
from .reset import clear_on

__all__ = ["ProcessingElement", "SadPE", "MacPE", "make_pe", "acc_shape"]


def flag(name):
    """A 1-bit valid/last register of one PE, marked ``keep``, without the domain's reset (the PE
    clears its flags on ``i_rst``, see :meth:`ProcessingElement.flags`).

    The flags of all PEs on one anti-diagonal (r + c) carry the same value, so Yosys's
    ``opt_merge`` would merge them into one flip-flop that drives every PE of the diagonal, a net
    that grows with the array (at 16x16 on the ECP5-85F it was the critical path). ``keep``, with
    the ``setattr`` line of the board builds (see ``hw.drain``), keeps one copy per PE: two to four
    flip-flops per PE buy wiring that stays local.
    """
    return Signal(name=name, attrs={"keep": 1}, reset_less=True)


def acc_shape(config):
    return signed(config.acc_width) if config.acc_signed else unsigned(config.acc_width)


class ProcessingElement(wiring.Component):
    """Common ports and accumulator of a PE; subclasses supply the arithmetic.

    Members
    -------
    i_a : In(signed(width))      filter operand, from the left
    i_b : In(signed(width))      activation operand, from above
    i_valid : In(1)              the operands form a term of the current tile
    i_last : In(1)               this term is the tile's last (k = K - 1)
    o_a : Out(signed(width))     ``i_a`` delayed one cycle, to the right neighbour
    o_b, o_valid, o_last : Out   ``i_b``, ``i_valid``, ``i_last`` delayed one cycle, downwards
    o_sum : Out(acc shape)       result register: the finished sum of the last tile
    o_capture : Out(1)           ``o_sum`` is written at the end of this cycle
    i_shift : In(1)              the column's drain chain shifts: ``o_sum`` takes ``i_below``
    i_below : In(acc shape)      ``o_sum`` of the PE below (0 for the last row)
    i_rst : In(1)                synchronous clear of the flags and the accumulator (hw.reset)

    After elaboration ``acc`` names the accumulator register (not a port), which the formal
    spec (``hw.array_spec``) holds equal to its wide shadow sum.
    """

    kind = None

    def __new__(cls, config, *args, **kwargs):
        # Refuse a bad config before the object exists: an Elaboratable that was created and then
        # refused would otherwise be reported as unused when it is collected.
        check_config(config)
        if config.pe != cls.kind:
            raise BadParameter(f"{cls.__name__} needs a config with pe={cls.kind!r}, not {config.pe!r}")
        return super().__new__(cls, config, *args, **kwargs)

    def __init__(self, config, *, mutation=None):
        self.config = config
        self.mutation = mutation        # hw.mutation: the array's deliberate bug, if any
        w = config.width
        super().__init__({
            "i_a": In(signed(w)), "i_b": In(signed(w)), "i_valid": In(1), "i_last": In(1),
            "o_a": Out(signed(w)), "o_b": Out(signed(w)), "o_valid": Out(1), "o_last": Out(1),
            "o_sum": Out(acc_shape(config)), "o_capture": Out(1),
            "i_shift": In(1), "i_below": In(acc_shape(config)), "i_rst": In(1),
        })

    @property
    def stages(self):
        """Latency from operands at the inputs to the sum in the accumulator (cycles).

        It is ``config.pe_stages``, the one source of truth; ``term`` builds ``stages - 1``
        registers to match it."""
        return self.config.pe_stages

    def flags(self, *names):
        """New flag registers (:func:`flag`), one per name, which ``elaborate`` clears on ``i_rst``."""
        new = [flag(name) for name in names]
        self._flags.extend(new)
        return new

    def term(self, m, valid1, last1, a1, b1):
        """Build the pipeline in front of the accumulator.

        ``valid1``/``last1`` are the PE's kept flag registers (``i_valid``/``i_last`` delayed one
        cycle), for the first stage to use rather than a second copy; ``a1``/``b1`` the operand
        forwarding registers (``i_a``/``i_b`` delayed one cycle), likewise.

        Returns (addend, carry_in, valid, last) as seen by the accumulate stage, after
        ``stages - 1`` registers; ``carry_in`` is a 1-bit value added to the sum.
        """
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        w = self.config.width
        a_fwd = Signal(signed(w), reset_less=True)
        b_fwd = Signal(signed(w), reset_less=True)
        self._flags = []
        v_fwd, l_fwd = self.flags("v_fwd", "l_fwd")
        m.d.sync += [a_fwd.eq(self.i_a), b_fwd.eq(self.i_b),
                     v_fwd.eq(self.i_valid), l_fwd.eq(self.i_last)]
        m.d.comb += [self.o_a.eq(a_fwd), self.o_b.eq(b_fwd),
                     self.o_valid.eq(v_fwd), self.o_last.eq(l_fwd)]
        # v_fwd/l_fwd are i_valid/i_last delayed one cycle: the flags of the first pipeline stage
        addend, carry_in, valid, last = self.term(m, v_fwd, l_fwd, a_fwd, b_fwd)
        shape = acc_shape(self.config)
        acc = Signal(shape, reset_less=True)
        result = Signal(shape, reset_less=True)
        total = Signal(shape)
        if fires(self.mutation, "acc-short"):   # MUTATION (hw.mutation): the running sum is one bit short
            total = Signal(Shape(shape.width - 1, shape.signed))
        self.acc = acc
        # The worst case over k_max terms fits acc_width bits, so truncation never loses a bit.
        m.d.comb += total.eq(acc + addend + carry_in)
        m.d.comb += [self.o_capture.eq(valid & last), self.o_sum.eq(result)]
        with m.If(self.i_rst | (valid & last)):
            m.d.sync += acc.eq(0)               # a new tile starts from zero
        with m.Elif(valid):
            m.d.sync += acc.eq(total)
        with m.If(valid & last):
            m.d.sync += result.eq(total)
        with m.Elif(self.i_shift):
            m.d.sync += result.eq(self.i_below)
        clear_on(m, self.i_rst, self._flags)
        return m


class SadPE(ProcessingElement):
    """Subtract → abs → accumulate, in 2 stages: difference, then accumulator.

    With ``config.sad_stage == "operands"`` stage 1 holds no register of its own: a and b are
    already registered once in every PE (``o_a``/``o_b``, forwarded to the neighbours), and
    x = (a - b) XOR s…s and s are formed from those registers in stage 2, in front of the
    accumulator's adder. The same latency and sums, w + 1 fewer flip-flops per PE (9 at 8 bits),
    and a subtractor in series with the accumulator's adder in one cycle.

    |d| is not built on its own: with s the sign of d = a - b, |d| = (d XOR s…s) + s. Stage 1
    registers x = the low ``width`` bits of d XOR s…s and s; stage 2 computes acc + x + s, with s
    as the adder's carry-in. One adder per stage; the abs costs one XOR per bit, which sits in the
    subtractor's output LUTs. (|d| <= 2^width - 1 and |d| - s >= 0 both fit ``width`` unsigned bits.)
    On iCE40 this PE core takes 36 LUT4s at 8 bits with a 16-bit accumulator, against 59 for the
    first version, which registered d and formed the XOR in stage 2 and mixed the accumulator's
    clear into its data path.
    """

    kind = "sad"

    @staticmethod
    def term_value(a, b):
        """What one term adds to the sum, as one expression (the formal spec's reference)."""
        return abs(a - b)

    def term(self, m, valid1, last1, a1, b1):
        w = self.config.width
        diff = Signal(signed(w + 1))
        if self.config.sad_stage == "operands":
            # stage 1 is the forwarding registers: |d| - s and s are formed from them in stage 2
            m.d.comb += diff.eq(a1 - b1)
            neg, magnitude_minus_neg = Signal(), Signal(w)
            m.d.comb += [magnitude_minus_neg.eq(diff[:w] ^ Mux(diff[w], (1 << w) - 1, 0)), neg.eq(diff[w])]
            return magnitude_minus_neg, neg, valid1, last1
        m.d.comb += diff.eq(self.i_a - self.i_b)
        neg = Signal(reset_less=True)
        magnitude_minus_neg = Signal(w, reset_less=True)          # |d| - s
        m.d.sync += [magnitude_minus_neg.eq(diff[:w] ^ Mux(diff[w], (1 << w) - 1, 0)), neg.eq(diff[w])]
        return magnitude_minus_neg, neg, valid1, last1


class MacPE(ProcessingElement):
    """Multiply → accumulate: ``mul_stages`` registers around a signed width x width multiplier.

    mul_stages = 1: product register. 2: operand registers and product register (the shape
    DSP blocks absorb). 3: one more product register. In an ECP5 board build with DSP blocks the
    multiplier and these registers are one MULT18X18D with its own registers (hw.dsp); the flags
    stay in the fabric either way.
    """

    kind = "mac"

    @staticmethod
    def term_value(a, b):
        """What one term adds to the sum, as one expression (the formal spec's reference)."""
        return a * b

    def term(self, m, valid1, last1, a1, b1):
        w, n = self.config.width, self.config.mul_stages
        if self._dsp:
            return self._dsp_term(m, valid1, last1)
        a, b, pv, pl = self.i_a, self.i_b, valid1, last1
        if n >= 2:
            a, b = self._reg(m, a, b, "in")          # operands and valid1/last1 are one stage
            pv, pl = self.flags("prod_valid", "prod_last")
            m.d.sync += [pv.eq(valid1), pl.eq(last1)]
        prod = Signal(signed(2 * w), reset_less=True)
        m.d.sync += prod.eq(a * b)
        if n == 3:
            p2 = Signal(signed(2 * w), reset_less=True)
            pv2, pl2 = self.flags("prod2_valid", "prod2_last")
            m.d.sync += [p2.eq(prod), pv2.eq(pv), pl2.eq(pl)]
            prod, pv, pl = p2, pv2, pl2
        return prod, 0, pv, pl

    def elaborate(self, platform):
        self._dsp = registered_dsp(platform)
        return super().elaborate(platform)

    def _dsp_term(self, m, valid1, last1):
        """The product from a MULT18X18D with ``mul_stages`` registers of its own (hw.dsp); the
        valid/last flags follow it through the same number of fabric stages as in ``term``."""
        n = self.config.mul_stages
        prod = mult18x18d(m, self.i_a, self.i_b, n)
        pv, pl = valid1, last1
        for stage in range(2, n + 1):
            nv, nl = self.flags(*(("prod_valid", "prod_last") if stage == 2 else ("prod2_valid", "prod2_last")))
            m.d.sync += [nv.eq(pv), nl.eq(pl)]
            pv, pl = nv, nl
        return prod, 0, pv, pl

    @staticmethod
    def _reg(m, a, b, name):
        ra = Signal(a.shape(), name=f"{name}_a", reset_less=True)
        rb = Signal(b.shape(), name=f"{name}_b", reset_less=True)
        m.d.sync += [ra.eq(a), rb.eq(b)]
        return ra, rb


#: the RTL PE of each PE kind (base.pe_kind), by its name
PE_CLASSES = {cls.kind: cls for cls in (SadPE, MacPE)}


def make_pe(config, *, mutation=None):
    """The PE class that ``config.pe`` names, built for ``config`` (with the array's ``mutation``)."""
    return PE_CLASSES[config.pe](config, mutation=mutation)
