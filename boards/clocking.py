"""The clocking every board top here shares: ``oscillator_sync`` and ``pll_sync``.

``oscillator_sync``: the platform's default clock pin, through an input buffer, clocks the ``sync``
domain; a reset-less ``por`` domain on the same clock holds one register that is 1 after
configuration and 0 from the first edge on, and drives ``sync``'s reset, so the design starts from
its reset state once, with no reset button.

``pll_sync``: the default clock pin feeds the family's PLL (boards.pll's settings), whose output
clocks ``sync`` and ``por``. ``sync`` is held in reset until the PLL's LOCK has passed two
flip-flops of ``por`` (LOCK is asynchronous to the output clock), and again if it drops. The
flip-flops start at 0 after configuration, so the reset is asserted from the first edge whatever
LOCK does. The PLL's output is constrained at its frequency, so nextpnr times the design at the
clock it will run at; the oscillator pin keeps its own constraint.

* iCE40: ``SB_PLL40_PAD``, its PACKAGEPIN straight on the pin (no SB_IO: the pin is the PLL's), the
  output on the global network (PLLOUTGLOBAL).
* ECP5: the pin through an input buffer into ``EHXPLLL``'s CLKI, feedback from CLKOP.
"""
from amaranth.hdl import ClockDomain, Instance, ResetSignal, Signal
from amaranth.lib import io

__all__ = ["oscillator_sync", "pll_sync", "lock_reset"]


def oscillator_sync(m, platform):
    """Add the clock buffer (submodule ``clk_buf``), the ``sync`` and ``por`` domains and the
    power-on reset to module ``m``."""
    m.submodules.clk_buf = clk = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
    m.domains.sync = sync = ClockDomain("sync")
    m.domains.por = por = ClockDomain("por", reset_less=True)
    m.d.comb += [sync.clk.eq(clk.i), por.clk.eq(clk.i)]
    reset = Signal(init=1)
    m.d.por += reset.eq(0)
    m.d.comb += sync.rst.eq(reset)


def pll_sync(m, platform, pll):
    """Add the PLL of :class:`boards.pll.PllSettings` ``pll`` (submodule ``pll``), the ``sync``
    and ``por`` domains on its output and the reset held until LOCK, to module ``m``."""
    pin = platform.request(platform.default_clk, dir="-")
    # ``keep``: the PLL's output net keeps this name through synthesis (Yosys drops an alias without
    # it), so the clock constraint below reaches nextpnr, which looks constraints up by any of a
    # net's names. (Amaranth names the domain's own clock signal after whichever submodule port it
    # met, which is no stable handle.)
    out = Signal(name="pll_out", attrs={"keep": 1})
    lock = Signal(name="pll_lock")
    params = {f"p_{k}": v for k, v in pll.params.items()}
    attrs = {f"a_{k}": v for k, v in pll.attrs.items()}
    if pll.family == "ice40":
        m.submodules.pll = Instance(pll.primitive, **params, i_PACKAGEPIN=pin.io, o_PLLOUTGLOBAL=out, o_LOCK=lock,
                                    i_RESETB=1, i_BYPASS=0)
    else:
        m.submodules.clk_buf = buf = io.Buffer("i", pin)
        m.submodules.pll = Instance(pll.primitive, **params, **attrs, i_CLKI=buf.i, o_CLKOP=out, i_CLKFB=out,
                                    o_LOCK=lock, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0,
                                    i_PHASESTEP=0, i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0)
    m.domains.sync = sync = ClockDomain("sync")
    m.domains.por = por = ClockDomain("por", reset_less=True)
    m.d.comb += [sync.clk.eq(out), por.clk.eq(out)]
    platform.add_clock_constraint(out, float(pll.f_out_hz))
    lock_reset(m, lock)


def lock_reset(m, lock):
    """Hold ``sync`` in reset until ``lock`` has been 1 for two edges of ``por`` (and again two
    edges after it is 0); the flip-flops start at 0, so the reset holds from configuration on."""
    lock_meta = Signal()
    locked = Signal()
    m.d.por += [lock_meta.eq(lock), locked.eq(lock_meta)]
    m.d.comb += ResetSignal("sync").eq(~locked)
