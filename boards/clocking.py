"""``oscillator_sync``: the clocking every board top here shares.

The platform's default clock pin, through an input buffer, clocks the ``sync`` domain; a
reset-less ``por`` domain on the same clock holds one register that is 1 after configuration and 0
from the first edge on, and drives ``sync``'s reset, so the design starts from its reset state
once, with no reset button.
"""
from amaranth.hdl import ClockDomain, Signal
from amaranth.lib import io

__all__ = ["oscillator_sync"]


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
