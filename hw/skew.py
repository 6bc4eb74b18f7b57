"""``RingDelay``: a long lane of the array's skew in RAM, ``delay`` cycles of a ``shape``-wide value.

The array delays row r's filter lane by r cycles and column c's activation lane by c cycles
(``hw.array``), so an R x C array holds 8·(R(R-1) + C(C-1))/2 skew bits at 8-bit operands: about
9 flip-flops per PE at 30x30, and it grows with the array. On devices whose flip-flops bound the
array (the ECP5-85F fails placement at about 75 % of its flip-flops, the iCE40UP5K at 81 % of its
logic cells, each of which has one flip-flop) the long lanes can live in memory instead.

Styles (``ArrayConfig.skew``):

  * ``"registers"``: a chain of ``delay`` flip-flops (``delay`` x width bits), built by the array.
  * ``"memory"``: lanes of at least ``MEMORY_MIN_DELAY`` = 4 cycles are a ``RingDelay``, shorter
    lanes stay registers. The ring has 2^m >= delay - 1 entries; a free-running m-bit pointer
    writes the input at ``ptr`` every cycle, a synchronous read port reads ``ptr - (delay - 2)``,
    and one fabric register follows the read port:

        input at t --write--> entry ptr(t) --read in cycle t + delay - 2--> port data in
        t + delay - 1 --register--> ``o_data`` in cycle t + delay

    The read and the write address always differ (1 <= delay - 2 < 2^m), so the ring does not
    depend on how a RAM resolves a read and a write of the same entry. On the ECP5 Yosys maps the
    ring to distributed RAM by itself (TRELLIS_DPR16X4, a LUT-sized 16 x 4 RAM). The iCE40 has no
    distributed RAM, and Yosys builds the smallest rings (4 and 8 entries, the lanes of 4 to 9
    cycles) from flip-flops and multiplexers there, which costs more than the registers; so when the array is elaborated for an iCE40 platform
    the ring carries ``ram_style = "block"`` and becomes a block RAM (SB_RAM40_4K, one per 8-bit
    lane of up to 257 cycles; the UP5K has 30, and an array that fits its logic has fewer
    lanes). The fabric register after the read port keeps the RAM's clock-to-output
    time (slow on block RAMs) off the path into the PEs. Cost: 2·width + m flip-flops per lane
    instead of delay·width (a 30-cycle lane at 8 bits: 21 instead of 240), plus the RAM and an
    m-bit subtractor.

Neither style has a reset: the lanes carry data only (valid and last travel on their own chain,
see hw.array), and nothing reads a lane's output before a valid beat has passed through it. The
ring's pointer is reset-less too: the read address is formed from it, so the two cannot disagree.

Members
-------
i_data : In(shape)     the value entering in this cycle
o_data : Out(shape)    the value that entered ``delay`` cycles ago
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from adderhw.base.platform import family
from adderhw.base.validate import check_int

__all__ = ["RingDelay", "MEMORY_MIN_DELAY", "in_memory", "ram_style"]

#: the shortest lane that the "memory" style puts in a ring buffer (2·width + m flip-flops against
#: delay·width; from 4 cycles on the ring saves flip-flops at every width)
MEMORY_MIN_DELAY = 4


def in_memory(style, delay):
    """Whether a lane of ``delay`` cycles is a ring buffer in ``style``."""
    return style == "memory" and delay >= MEMORY_MIN_DELAY


def ram_style(platform):
    """Yosys's ``ram_style`` hint for the rings on ``platform``: "block" on the iCE40 (see the module
    docstring), None elsewhere (no hint; also for Verilog generated without a platform)."""
    return "block" if family(platform) == "ice40" else None


class RingDelay(wiring.Component):
    """A ``delay``-cycle delay (at least 3) of a ``shape``-wide value in a RAM ring buffer; see
    the module docstring."""

    def __new__(cls, shape, delay, *args, **kwargs):
        # refuse a bad delay before the object exists (an unused Elaboratable warns when collected)
        check_int("delay", delay, lo=3)
        return super().__new__(cls)

    def __init__(self, shape, delay, name="lane", ram_style=None):
        self.delay = delay
        self.name, self.ram_style = name, ram_style
        self._shape = shape
        super().__init__({"i_data": In(shape), "o_data": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        d = self.delay
        lag = d - 2                                   # entries between the write and the read
        bits = (d - 2).bit_length()                   # 2^bits >= d - 1 > lag
        attrs = {"ram_style": self.ram_style} if self.ram_style else None
        m.submodules.ring = ring = Memory(shape=self._shape, depth=1 << bits, init=[], attrs=attrs)
        write = ring.write_port()
        read = ring.read_port(transparent_for=())
        ptr = Signal(bits, name=f"{self.name}_ptr", reset_less=True)
        out = Signal(self._shape, name=f"{self.name}_out", reset_less=True)
        m.d.sync += [ptr.eq(ptr + 1), out.eq(read.data)]
        m.d.comb += [write.addr.eq(ptr), write.data.eq(self.i_data), write.en.eq(1),
                     read.addr.eq(ptr - lag), self.o_data.eq(out)]
        return m
