"""Processing elements: ``SadPE`` (subtract → abs → accumulate) and ``MacPE`` (multiply → accumulate).

Both have the same ports and the same role in the systolic array, so the array does not know
which kind it holds; only the arithmetic between the operand registers and the accumulator differs.

Protocol (per PE, one clock domain ``sync``):
  * Every cycle the PE forwards its operands with one register: ``o_a`` ← ``i_a`` (to the right),
    ``o_b``/``o_valid``/``o_last`` ← ``i_b``/``i_valid``/``i_last`` (downwards).
  * A term enters when ``i_valid`` is high. ``stages`` cycles later it has been added to the
    accumulator. If ``i_last`` was high with it, the final sum is written to the result register
    ``o_sum`` (the second buffer of the double-buffered accumulator) and the accumulator restarts
    at zero, so the next term begins the next tile with no idle cycle.
  * ``o_capture`` is high in the cycle whose clock edge writes ``o_sum``.

Widths: operands signed ``width``; SAD accumulator unsigned, MAC accumulator signed, both
``config.acc_width`` bits (the worst case over ``k_max`` terms, so they cannot overflow).
"""
from amaranth.hdl import Elaboratable, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.config import ArrayConfig

__all__ = ["ProcessingElement", "SadPE", "MacPE", "make_pe", "acc_shape"]


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
    """

    kind = None

    def __init__(self, config):
        if not isinstance(config, ArrayConfig) or config.pe != self.kind:
            self._MustUse__silence = True       # a refused object is not an unused one
            if not isinstance(config, ArrayConfig):
                raise TypeError(f"config must be an ArrayConfig, not {config!r}")
            raise ValueError(f"{type(self).__name__} needs a config with pe={self.kind!r}, not {config.pe!r}")
        self.config = config
        w = config.width
        super().__init__({
            "i_a": In(signed(w)), "i_b": In(signed(w)), "i_valid": In(1), "i_last": In(1),
            "o_a": Out(signed(w)), "o_b": Out(signed(w)), "o_valid": Out(1), "o_last": Out(1),
            "o_sum": Out(acc_shape(config)), "o_capture": Out(1),
        })

    @property
    def stages(self):
        """Latency from operands at the inputs to the sum in the accumulator (cycles)."""
        raise NotImplementedError

    def term(self, m):
        """Build the pipeline in front of the accumulator.

        Returns (addend, carry_in, valid, last) as seen by the accumulate stage, after
        ``stages - 1`` registers; ``carry_in`` is a 1-bit value added to the sum.
        """
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [
            self.o_a.eq(self.i_a),
            self.o_b.eq(self.i_b),
            self.o_valid.eq(self.i_valid),
            self.o_last.eq(self.i_last),
        ]
        addend, carry_in, valid, last = self.term(m)
        acc = Signal(acc_shape(self.config))
        total = Signal(acc_shape(self.config))
        # The worst case over k_max terms fits acc_width bits, so truncation never loses a bit.
        m.d.comb += total.eq(acc + addend + carry_in)
        m.d.comb += self.o_capture.eq(valid & last)
        with m.If(valid):
            m.d.sync += acc.eq(Mux(last, 0, total))
        with m.If(valid & last):
            m.d.sync += self.o_sum.eq(total)
        return m


class SadPE(ProcessingElement):
    """Subtract → abs → accumulate, in 2 stages: a (width+1)-bit difference register, then the accumulator.

    |d| is not built on its own: with s the sign of d, |d| = (d XOR s…s) + s, so the
    accumulate stage adds the low ``width`` bits of d XOR s…s and feeds s in as a carry.
    One adder per stage: the abs costs XOR gates only, which FPGA tools fold into the
    accumulator's LUTs. (|d| <= 2^width - 1 and |d| - s >= 0 both fit ``width`` unsigned bits.)
    """

    kind = "sad"

    @property
    def stages(self):
        return 2

    def term(self, m):
        w = self.config.width
        diff = Signal(signed(w + 1))
        valid, last = Signal(), Signal()
        m.d.sync += [diff.eq(self.i_a - self.i_b), valid.eq(self.i_valid), last.eq(self.i_last)]
        neg = diff[w]
        ones_if_neg = Mux(neg, (1 << w) - 1, 0)
        magnitude_minus_neg = (diff[:w] ^ ones_if_neg)
        return magnitude_minus_neg, neg, valid, last


class MacPE(ProcessingElement):
    """Multiply → accumulate: ``mul_stages`` registers around a signed width x width multiplier.

    mul_stages = 1: product register. 2: operand registers and product register (the shape
    DSP blocks absorb). 3: one more product register.
    """

    kind = "mac"

    @property
    def stages(self):
        return 1 + self.config.mul_stages

    def term(self, m):
        w, n = self.config.width, self.config.mul_stages
        a, b, valid, last = self.i_a, self.i_b, self.i_valid, self.i_last
        if n >= 2:
            a, b, valid, last = self._reg(m, a, b, valid, last, "in")
        prod = Signal(signed(2 * w))
        pv, pl = Signal(), Signal()
        m.d.sync += [prod.eq(a * b), pv.eq(valid), pl.eq(last)]
        if n == 3:
            p2, pv2, pl2 = Signal(signed(2 * w)), Signal(), Signal()
            m.d.sync += [p2.eq(prod), pv2.eq(pv), pl2.eq(pl)]
            prod, pv, pl = p2, pv2, pl2
        return prod, 0, pv, pl

    @staticmethod
    def _reg(m, a, b, valid, last, name):
        ra, rb = Signal(a.shape(), name=f"{name}_a"), Signal(b.shape(), name=f"{name}_b")
        rv, rl = Signal(name=f"{name}_valid"), Signal(name=f"{name}_last")
        m.d.sync += [ra.eq(a), rb.eq(b), rv.eq(valid), rl.eq(last)]
        return ra, rb, rv, rl


def make_pe(config):
    """The PE class that ``config.pe`` names, built for ``config``."""
    return {"sad": SadPE, "mac": MacPE}[config.pe](config)
