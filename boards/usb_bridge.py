"""``fastest_baud``: the highest UART rate that a board's USB bridge carries and the board's clock
makes exactly.

The engine top's UART (hw.uart) runs at clock / divisor, an integer divisor of at least 4. The host
side is an FTDI bridge, whose own rates are base / n for a divisor n = 2, 2.125, 2.25, ... (eighths)
up to 16384, plus the two special divisors 0 (base) and 1 (2/3 of base); FTDI's AN232B-05 "Configuring
FT232R, FT2232 and FT232B Baud Rates", which also says that divisors between 1 and 2 do not exist.
So a rate between base·2/3 and base/2 cannot be set at all, and a rate that the FPGA makes exactly
may still be one the bridge only approximates.

* iCEBreaker: FT2232H (its second channel is the UART), "data rate up to 12 Mbaud" (FT2232H data
  sheet): its high-speed divisor runs from a 12 MHz base (120 MHz / 10, which the Linux ftdi_sio
  driver uses from 1,200 baud up).
* ULX3S: FT231X, "data transfer rates from 300 baud to 3 Mbaud" (FT231X data sheet): a 3 MHz base
  (48 MHz / 16).

:func:`fastest_baud` looks for the smallest FPGA divisor d >= 4 whose rate clock / d is a whole
number of baud that the bridge makes exactly; at the oscillators that is 3 Mbaud on the iCEBreaker
(12 MHz / 4) and 1 Mbaud on the ULX3S (25 MHz / 25). A clock with no such rate down to 115,200 baud
falls back to the fastest standard rate that both sides make within 1 % each.
"""
from dataclasses import dataclass
from fractions import Fraction

from adderhw.base.errors import BadParameter
from adderhw.hw.uart import uart_divisor

__all__ = ["UsbBridge", "BRIDGES", "fastest_baud"]

#: standard rates, the fallback when no exact rate exists
STANDARD_BAUDS = (12_000_000, 8_000_000, 6_000_000, 4_000_000, 3_000_000, 2_000_000, 1_500_000, 1_000_000,
                  921_600, 500_000, 460_800, 230_400, 115_200)
#: the slowest exact rate looked for before the fallback
MIN_EXACT_BAUD = 115_200


@dataclass(frozen=True)
class UsbBridge:
    name: str
    base: int            # Hz: the rate at divisor 0
    max_baud: int

    def makes(self, baud):
        """Whether the bridge's divisor gives ``baud`` exactly."""
        baud = Fraction(baud)
        if baud in (self.base, Fraction(self.base * 2, 3)):
            return True
        eighths = Fraction(8 * self.base) / baud           # the divisor in eighths
        return eighths.denominator == 1 and 16 <= eighths <= 8 * 16384 + 7

    def nearest(self, baud):
        """The rate the bridge runs at when asked for ``baud`` (its nearest divisor)."""
        rates = [Fraction(self.base), Fraction(self.base * 2, 3)]
        eighths = round(Fraction(8 * self.base) / Fraction(baud))
        rates += [Fraction(8 * self.base, e) for e in (eighths - 1, eighths, eighths + 1) if 16 <= e <= 8 * 16384 + 7]
        return min(rates, key=lambda r: abs(r - baud))


BRIDGES = {
    "icebreaker": UsbBridge("FT2232H", base=12_000_000, max_baud=12_000_000),
    "ulx3s-85f": UsbBridge("FT231X", base=3_000_000, max_baud=3_000_000),
}


def fastest_baud(board, clk_hz):
    """(baud, why): the highest rate up to the bridge's maximum that both the board's USB bridge and
    a ``clk_hz`` clock make exactly, which hw.uart's ``uart_divisor`` accepts; ``why`` says so in
    a sentence."""
    if board not in BRIDGES:
        raise BadParameter(f"board must be one of {', '.join(BRIDGES)} (a board with a USB UART bridge), "
                           f"not {board!r}")
    bridge = BRIDGES[board]
    clk = Fraction(clk_hz)
    mhz = f"{float(clk) / 1e6:g} MHz"
    d = 4
    while clk / d >= MIN_EXACT_BAUD:
        baud = clk / d
        if baud <= bridge.max_baud and baud.denominator == 1 and bridge.makes(baud):
            baud = int(baud)
            uart_divisor(round(clk), baud)
            return baud, (f"{baud} baud: the fastest rate the {bridge.name} carries that the {mhz} clock makes "
                          f"exactly (divisor {d})")
        d += 1
    for baud in STANDARD_BAUDS:
        if baud > bridge.max_baud:
            continue
        fpga = clk / max(4, round(clk / baud))
        if abs(fpga - baud) <= baud / 100 and abs(bridge.nearest(baud) - baud) <= baud / 100:
            uart_divisor(round(clk), baud)
            return baud, (f"{baud} baud: no rate from 115200 up is exact for both the {bridge.name} and the "
                          f"{mhz} clock, and this standard rate is within 1 % on both sides")
    raise BadParameter(f"the clock must make a UART rate of the {bridge.name} within 1 %, which {mhz} does not")
