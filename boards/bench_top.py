"""``BenchTop``: a board top that keeps the whole array alive for synthesis benchmarks.

* A free-running LFSR (boards.lfsr) supplies every filter and activation lane each cycle; both
  input streams are always valid, and ``last`` comes every K beats (K = the config's k_max).
* The output stream's ``ready`` is an LFSR bit, so the backpressure logic is real.
* Every bit of the output payload and its valid are XOR-reduced into one register driving one
  LED pin: each sum bit can change the pin, so synthesis can remove nothing. The payload is
  registered first and reduced four bits per registered level, so the harness never sets Fmax
  (an unpipelined tree did: it was the critical path of a 4x4 iCE40 build).
* Clock: the board's default clock pin (constrained at the requested frequency by
  boards.platforms); a one-register power-on reset.
Pins used: the clock input and one LED.
"""
from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib import io

from adderhw.base.errors import BadParameter
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
        m.submodules.lfsr = lfsr = Lfsr(max(fw + aw + 1, 8))
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
        m.d.comb += led.o.eq(self._reduce(m, Cat(dut.o_sum.payload.as_value(), dut.o_sum.valid)))
        return m

    @staticmethod
    def _reduce(m, value):
        """XOR of all bits of ``value``, four bits per registered level."""
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
