"""``EngineTop``: the layer engine behind its UART host link (hw.link.EngineLink) on a board.

* Clock: by default the board's oscillator, unchanged (12 MHz on the iCEBreaker, 25 MHz on the
  ULX3S). With ``clock_mhz`` the oscillator feeds the family's PLL (boards.pll: iCE40
  ``SB_PLL40_PAD``, ECP5 ``EHXPLLL``), set to the highest frequency not above ``clock_mhz`` that it
  makes, and ``sync`` runs from the PLL's output (boards.clocking.pll_sync), constrained at that
  frequency for nextpnr. ``clk_hz`` is the clock ``sync`` actually runs at (rounded to a Hz): the
  UART divisor and STATUS's clock follow it. nextpnr's report also gives the design's Fmax, which
  ``adderhw build --top engine`` turns into images/s.
* Reset: a one-register power-on reset, or with the PLL a reset held until the PLL's LOCK; the
  protocol's frame timeout recovers from any host-side trouble, so no reset button is needed.
* Pins: the board's ``uart`` 0 (rx in, tx out: the FTDI bridge's second channel on the iCEBreaker,
  the FT231X on the ULX3S), ``led`` 0 lit while the engine runs, ``led`` 1 (if the board has it)
  toggling on every error reply.
"""
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import io

from adderhw.hw.link import EngineLink
from adderhw.hw.uart import uart_divisor

from .clocking import oscillator_sync, pll_sync
from .platforms import board as board_by_name
from .pll import solve_pll
from .usb_bridge import fastest_baud

__all__ = ["EngineTop", "oscillator_hz", "board_clock"]


def oscillator_hz(platform_cls):
    """The frequency of the platform's default clock pin, in Hz."""
    for res in platform_cls.resources:
        if res.name == platform_cls.default_clk and res.number == 0:
            return int(res.clock.frequency)
    raise LookupError(f"{platform_cls.__name__} has no clock resource {platform_cls.default_clk}")


def board_clock(board_name, clock_mhz=None, baud=None):
    """How an engine top on ``board_name`` is clocked, as ``adderhw build --top engine`` builds it:
    {osc_hz, pll (None at the oscillator), clk_hz (the clock ``sync`` runs at), baud, baud_choice
    (a sentence: why this rate), divisor (UART clocks per bit)}. ``baud`` None: 115200 at the
    oscillator, or with the PLL the fastest rate the board's USB bridge and the clock make exactly
    (boards.usb_bridge). A clock the PLL cannot make, or a rate the clock cannot make, is refused
    here, before anything is built or simulated."""
    b = board_by_name(board_name)
    osc_hz = oscillator_hz(b.platform_class())
    pll = None if clock_mhz is None else solve_pll(b.family, osc_hz, clock_mhz)
    if baud is not None:
        baud_choice = f"{baud} baud: asked for"
    elif pll is None:
        baud, baud_choice = 115200, "115200 baud: the default at the oscillator"
    else:
        baud, baud_choice = fastest_baud(board_name, pll.f_out_hz)
    clk_hz = osc_hz if pll is None else round(pll.f_out_hz)
    return {"osc_hz": osc_hz, "pll": pll, "clk_hz": clk_hz, "baud": baud, "baud_choice": baud_choice,
            "divisor": uart_divisor(clk_hz, baud), "family": b.family}


class EngineTop(Elaboratable):
    """``osc_hz``: the board oscillator's frequency; ``clock_mhz`` (None: run at the oscillator) the
    target of the PLL of ``family`` ("ice40" or "ecp5"). ``pll`` holds the PLL's settings (None
    without one), ``clk_hz`` the clock the engine runs at, ``divisor`` the UART's clocks per bit."""

    def __init__(self, engine, osc_hz, baud=115200, clock_mhz=None, family=None):
        self.engine, self.osc_hz, self.baud = engine, osc_hz, baud
        try:
            self.pll = None if clock_mhz is None else solve_pll(family, osc_hz, clock_mhz)
            self.clk_hz = osc_hz if self.pll is None else round(self.pll.f_out_hz)
            self.divisor = uart_divisor(self.clk_hz, baud)
        except Exception:
            # a refused top is never returned, so nobody can elaborate it: without this, Amaranth's
            # "created but never used" warning fires whenever it is collected, in whatever runs then
            self._MustUse__used = True
            raise

    def elaborate(self, platform):
        m = Module()
        if self.pll is None:
            oscillator_sync(m, platform)
        else:
            pll_sync(m, platform, self.pll)

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
