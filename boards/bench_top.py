"""``BenchTop``: a board top that keeps the whole array alive for synthesis benchmarks.

* A free-running LFSR (boards.lfsr) supplies every filter and activation lane each cycle; both
  input streams are always valid, and ``last`` comes every K beats (K = the config's k_max).
* The output stream's ``ready`` is an LFSR bit, so the backpressure logic is real.
* Every bit of the output payload and its valid are XOR-reduced into one register driving one
  LED pin: each sum bit can change the pin, so synthesis can remove nothing. The tree is reduced
  four bits per registered level, so the harness never sets Fmax (an unpipelined tree did: it was
  the critical path of a 4x4 iCE40 build). On the ECP5 the payload is registered as it is before
  the first level, so that nothing follows the drain's output multiplexers in their cycle.
* The iCE40 harness is lean in flip-flops, because the iCE40 arrays are bound by them (a logic
  cell holds one LUT and one flip-flop, and a SAD PE has more flip-flops than LUTs) and run far
  below the speed at which the harness's registers matter: its first level XORs four payload bits
  before the register (C x acc_width + 1 flip-flops become a quarter of that), and its LFSR drives
  the lanes from its state, without the output register the ECP5 harness needs (boards.lfsr).
  Together about 8·(R + C) + C·acc_width flip-flops fewer: 219 at 6x7, 8 bits, K <= 144 (after
  Yosys's proc).
* Clock: the board's default clock pin (constrained at the requested frequency by
  boards.platforms); a one-register power-on reset.
Pins used: the clock input and one LED.
"""
from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib import io

from adderhw.base.errors import BadParameter
from adderhw.base.platform import family
from adderhw.hw.array import SystolicArray

from .clocking import oscillator_sync
from .lfsr import Lfsr

__all__ = ["BenchTop"]


class BenchTop(Elaboratable):
    def __init__(self, config):
        self.config = config

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        oscillator_sync(m, platform)

        m.submodules.array = dut = SystolicArray(cfg)
        fw, aw = cfg.rows * cfg.width, cfg.cols * cfg.width
        lean = family(platform) == "ice40"
        m.submodules.lfsr = lfsr = Lfsr(max(fw + aw + 1, 8), registered=not lean)
        bits = lfsr.o_state
        # tiles of k_max beats; ``last`` is a register (set one beat ahead), so that the harness
        # adds no logic in front of the array's input join and does not set Fmax
        k = Signal(range(max(cfg.k_max, 2)))
        last = Signal(init=int(cfg.k_max == 1))
        with m.If(dut.i_act.valid & dut.i_act.ready):
            if cfg.k_max == 1:
                m.d.sync += last.eq(1)
            else:
                m.d.sync += [k.eq(Mux(k == cfg.k_max - 1, 0, k + 1)),
                             last.eq(k == cfg.k_max - 2)]
        m.d.comb += [
            dut.i_filter.valid.eq(1),
            dut.i_act.valid.eq(1),
            dut.i_filter.payload.eq(bits[:fw]),
            dut.i_act.payload.data.eq(bits[fw:fw + aw]),
            dut.i_act.payload.last.eq(last),
            dut.o_sum.ready.eq(bits[-1]),
        ]
        m.submodules.led_buf = led = io.Buffer("o", self._led_port(platform))
        m.d.comb += led.o.eq(self._reduce(m, Cat(dut.o_sum.payload.as_value(), dut.o_sum.valid),
                                         register_first=not lean))
        return m

    @staticmethod
    def _reduce(m, value, register_first=True):
        """XOR of all bits of ``value``, four bits per registered level; with ``register_first``
        ``value`` itself is registered before the first level."""
        if not register_first and len(value) > 1:
            value = Cat(*(value[i:i + 4].xor() for i in range(0, len(value), 4)))
        level = 0
        while True:
            reg = Signal(len(value), name=f"reduce_{level}", reset_less=True)
            m.d.sync += reg.eq(value)
            if len(value) == 1:
                return reg
            value = Cat(*(reg[i:i + 4].xor() for i in range(0, len(reg), 4)))
            level += 1

    @staticmethod
    def _led_port(platform):
        """The first LED pin: ``led`` 0, or the red LED of ``rgb_led`` 0 (OrangeCrab)."""
        names = {name for name, _ in platform.resources}
        if "led" in names:
            return platform.request("led", 0, dir="-")
        if "rgb_led" in names:
            return platform.request("rgb_led", 0, dir={"r": "-", "g": "-", "b": "-"}).r
        raise BadParameter(f"the board {type(platform).__name__} has no led or rgb_led resource for the result pin")
