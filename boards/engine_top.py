"""``EngineTop``: the layer engine behind its UART host link (hw.link.EngineLink) on a board.

* Clock: the board's oscillator, unchanged (12 MHz on the iCEBreaker, 25 MHz on the ULX3S), so
  the UART divisor is exact and the bitstream runs as built; nextpnr's report also gives the
  design's Fmax, which ``adderhw build --top engine`` turns into images/s. (A PLL to run at Fmax is
  not part of this top.)
* Reset: a one-register power-on reset; the protocol's frame timeout recovers from any host-side
  trouble, so no reset button is needed.
* Pins: the board's ``uart`` 0 (rx in, tx out: the FTDI bridge's second channel on the iCEBreaker,
  the FT231X on the ULX3S), ``led`` 0 lit while the engine runs, ``led`` 1 (if the board has it)
  toggling on every error reply.
"""
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import io

from adderhw.hw.link import EngineLink
from adderhw.hw.uart import uart_divisor

from .clocking import oscillator_sync

__all__ = ["EngineTop", "oscillator_hz"]


def oscillator_hz(platform_cls):
    """The frequency of the platform's default clock pin, in Hz."""
    for res in platform_cls.resources:
        if res.name == platform_cls.default_clk and res.number == 0:
            return int(res.clock.frequency)
    raise LookupError(f"{platform_cls.__name__} has no clock resource {platform_cls.default_clk}")


class EngineTop(Elaboratable):
    def __init__(self, engine, clk_hz, baud=115200):
        self.engine, self.clk_hz, self.baud = engine, clk_hz, baud
        self.divisor = uart_divisor(clk_hz, baud)

    def elaborate(self, platform):
        m = Module()
        oscillator_sync(m, platform)

        m.submodules.link = link = EngineLink(self.engine, divisor=self.divisor, clk_hz=self.clk_hz)
        uart = platform.request("uart", 0, dir="-")     # every subsignal (the ULX3S adds rts and dtr)
        m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [link.i_rx.eq(rx.i), tx.o.eq(link.o_tx)]
        leds = [r.number for r in platform.resources.values() if r.name == "led"]
        if 0 in leds:
            m.submodules.led_busy = busy = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.comb += busy.o.eq(link.o_busy)
        if 1 in leds:
            m.submodules.led_err = errled = io.Buffer("o", platform.request("led", 1, dir="-"))
            toggle = Signal()
            with m.If(link.o_error):
                m.d.sync += toggle.eq(~toggle)
            m.d.comb += errled.o.eq(toggle)
        return m
