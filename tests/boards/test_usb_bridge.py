"""The default UART rate of a board with a PLL: the fastest that its USB bridge and its clock both
make exactly, against a search over every FPGA divisor; and the bridges' own rates."""
from fractions import Fraction

import pytest

from adderhw.base.errors import BadParameter
from adderhw.boards.pll import solve_pll
from adderhw.boards.usb_bridge import BRIDGES, fastest_baud
from adderhw.hw.uart import uart_divisor


def test_the_bridges_make_the_rates_of_their_divisors_and_no_others():
    ft2232h, ft231x = BRIDGES["icebreaker"], BRIDGES["ulx3s-85f"]
    assert (ft2232h.name, ft2232h.max_baud, ft231x.name, ft231x.max_baud) == ("FT2232H", 12_000_000, "FT231X", 3_000_000)
    # divisors 0 and 1 are special (base, 2/3 base); then 2, 2.125, 2.25, ... (AN232B-05)
    assert all(ft2232h.makes(b) for b in (12_000_000, 8_000_000, 6_000_000, Fraction(96_000_000, 17), 3_000_000,
                                          750_000, 1_000_000))
    assert not any(ft2232h.makes(b) for b in (7_500_000, 9_000_000, 10_000_000, 115_200))
    assert all(ft231x.makes(b) for b in (3_000_000, 2_000_000, 1_500_000, 1_000_000, 3_000_000 // 25))
    assert not any(ft231x.makes(b) for b in (2_500_000, 2_941_176, 115_200))
    assert ft231x.nearest(115_200) == Fraction(3_000_000, 26)               # the driver's 115,385 baud
    assert ft2232h.nearest(7_500_000) == 8_000_000


def _exact_rates(board, clk):
    """Every rate clk / d (d >= 4) of a whole number of baud, from 115,200 up to the bridge's
    maximum, that the bridge's divisor makes exactly: checked on the divisor in eighths."""
    bridge = BRIDGES[board]
    out = []
    for d in range(4, int(clk / 115_200) + 1):
        b = Fraction(clk) / d
        if b.denominator != 1 or b > bridge.max_baud:
            continue
        eighths = Fraction(8 * bridge.base) / b
        if b in (bridge.base, Fraction(2 * bridge.base, 3)) or (eighths.denominator == 1 and eighths >= 16):
            out.append(int(b))
    return out


@pytest.mark.parametrize("board,clk,expected", [
    ("icebreaker", 12_000_000, 3_000_000),      # the oscillator: divisor 4
    ("icebreaker", 24_000_000, 6_000_000),
    ("icebreaker", 30_000_000, 6_000_000),      # 7.5 Mbaud is clock / 4, but no FT2232H divisor gives it
    ("icebreaker", 48_000_000, 12_000_000),     # the FT2232H's maximum
    ("icebreaker", 24_750_000, 750_000),
    ("ulx3s-85f", 25_000_000, 1_000_000),       # the oscillator: 25 MHz / 25
    ("ulx3s-85f", 50_000_000, 2_000_000),
    ("ulx3s-85f", 75_000_000, 3_000_000),       # the FT231X's maximum
    ("ulx3s-85f", 100_000_000, 2_000_000),
])
def test_the_default_rate_is_the_fastest_both_sides_make_exactly(board, clk, expected):
    baud, why = fastest_baud(board, clk)
    assert baud == expected == max(_exact_rates(board, clk))
    assert clk % baud == 0 and uart_divisor(clk, baud) == clk // baud >= 4
    assert why == (f"{baud} baud: the fastest rate the {BRIDGES[board].name} carries that the {clk / 1e6:g} MHz "
                   f"clock makes exactly (divisor {clk // baud})")


@pytest.mark.parametrize("target", [33.3, 47.9, 62.5, 97.1, 180])
def test_every_pll_clock_of_the_icebreaker_gets_the_search_s_rate(target):
    clk = solve_pll("ice40", 12_000_000, target).f_out_hz
    assert fastest_baud("icebreaker", clk)[0] == max(_exact_rates("icebreaker", clk))


def test_a_clock_without_an_exact_rate_falls_back_to_a_standard_rate_within_one_per_cent():
    clk = solve_pll("ecp5", 25_000_000, 133.3).f_out_hz         # 25 * 37 / 7 MHz
    assert _exact_rates("ulx3s-85f", clk) == []
    baud, why = fastest_baud("ulx3s-85f", clk)
    assert baud == 3_000_000 and "no rate from 115200 up is exact" in why
    assert abs(clk / uart_divisor(round(clk), baud) - baud) < baud / 100


def test_a_board_without_a_usb_bridge_is_refused():
    with pytest.raises(BadParameter, match=r"^board must be one of icebreaker, ulx3s-85f \(a board with a USB UART "
                                           r"bridge\), not 'hx8k'$"):
        fastest_baud("hx8k", 12_000_000)
