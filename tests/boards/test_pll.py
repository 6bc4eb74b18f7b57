"""The PLL solver against brute force over every divider setting, the documented ranges on every
result, and the refusals."""
import bisect
import random
from fractions import Fraction

import pytest

from adderhw.base.errors import BadParameter
from adderhw.boards.pll import PLL_MARGIN_PCT, check_pll_margin, clock_from_fmax, pll_range, solve_pll

MHZ = 10 ** 6

# The limits, typed again from Lattice's documents (not imported from boards.pll): iCE40 TN1251
# and the iCE40 data sheets; ECP5 FPGA-TN-02200 (TN1263) and the ECP5 data sheet.
ICE40 = {"in": (10 * MHZ, 133 * MHZ), "pfd": (10 * MHZ, 133 * MHZ), "vco": (533 * MHZ, 1066 * MHZ),
         "out": (16 * MHZ, 275 * MHZ)}
ECP5 = {"in": (8 * MHZ, 400 * MHZ), "pfd": (3_125_000, 400 * MHZ), "vco": (400 * MHZ, 800 * MHZ),
        "out": (3_125_000, 400 * MHZ)}


def _in(f, limits):
    return limits[0] <= f <= limits[1]


def _ice40_all(f_in):
    """Every legal (out, pfd, vco, dividers) of an SB_PLL40 in SIMPLE feedback."""
    found = []
    for divr in range(16):
        pfd = Fraction(f_in, divr + 1)
        for divf in range(128):
            vco = pfd * (divf + 1)
            for divq in range(1, 7):
                out = vco / 2 ** divq
                if _in(pfd, ICE40["pfd"]) and _in(vco, ICE40["vco"]) and _in(out, ICE40["out"]):
                    found.append((out, pfd, vco, {"DIVR": divr, "DIVF": divf, "DIVQ": divq}))
    return found


def _ecp5_all(f_in):
    """Every legal (out, pfd, vco, dividers) of an EHXPLLL with CLKOP feedback (integer tests
    first: 1.3 million settings)."""
    found = []
    lo_pfd, hi_pfd = ECP5["pfd"]
    lo_out, hi_out = ECP5["out"]
    lo_vco, hi_vco = ECP5["vco"]
    for clki in range(1, 129):
        if not lo_pfd * clki <= f_in <= hi_pfd * clki:
            continue
        for fb in range(1, 81):
            if not lo_out * clki <= f_in * fb <= hi_out * clki:
                continue
            for op in range(1, 129):
                if lo_vco * clki <= f_in * fb * op <= hi_vco * clki:
                    found.append((Fraction(f_in * fb, clki), Fraction(f_in, clki), Fraction(f_in * fb * op, clki),
                                  {"CLKI_DIV": clki, "CLKFB_DIV": fb, "CLKOP_DIV": op}))
    return found


BRUTE = {"ice40": _ice40_all, "ecp5": _ecp5_all}
LIMITS = {"ice40": ICE40, "ecp5": ECP5}


def _frequencies(family, d, f_in):
    if family == "ice40":
        pfd = Fraction(f_in, d["DIVR"] + 1)
        vco = pfd * (d["DIVF"] + 1)
        return pfd, vco, vco / 2 ** d["DIVQ"]
    pfd = Fraction(f_in, d["CLKI_DIV"])
    out = pfd * d["CLKFB_DIV"]
    return pfd, out * d["CLKOP_DIV"], out


def _targets(lo_mhz, hi_mhz, step, rng, n):
    fixed = [lo_mhz + i * step for i in range(int((hi_mhz - lo_mhz) / step) + 1)]
    return fixed + [round(rng.uniform(lo_mhz, hi_mhz), 4) for _ in range(n)]


@pytest.mark.parametrize("family,f_in,targets", [
    ("ice40", 12_000_000, _targets(14, 280, 0.25, random.Random(1), 200)),     # the iCEBreaker
    ("ice40", 100_000_000, _targets(14, 280, 1.0, random.Random(2), 100)),     # DIVR > 0 is legal from here
    # the ULX3S; at 253.2 only CLKFB_DIV = 81 (one beyond its limit) would beat 250 MHz: 25 * 81 / 8
    ("ecp5", 25_000_000, _targets(2, 410, 2.0, random.Random(3), 60) + [253.2]),
    ("ecp5", 12_000_000, _targets(2, 410, 5.0, random.Random(4), 30)),
])
def test_the_solver_finds_the_highest_clock_not_above_the_target_as_brute_force_does(family, f_in, targets):
    every = BRUTE[family](f_in)
    outs = sorted({o for o, *_ in every})
    mid = Fraction(sum(LIMITS[family]["vco"]), 2)
    assert (outs[0], outs[-1]) == pll_range(family, f_in)
    made = 0
    for t in targets:
        target = Fraction(str(t)) * MHZ
        if not outs[0] <= target <= outs[-1]:
            with pytest.raises(BadParameter, match=r"^clock_mhz must be between .* MHz for an .* PLL \(.*\) from a "
                                                   rf"{f_in / MHZ:g} MHz clock, not {t:g}$"):
                solve_pll(family, f_in, t)
            continue
        best = outs[bisect.bisect_right(outs, target) - 1]
        s = solve_pll(family, f_in, t)
        assert s.f_out_hz == best, (t, s.describe())
        # the dividers give the frequencies claimed, every one within its documented range
        pfd, vco, out = _frequencies(family, s.dividers, f_in)
        assert (s.f_pfd_hz, s.f_vco_hz, s.f_out_hz) == (pfd, vco, out)
        assert _in(pfd, LIMITS[family]["pfd"]) and _in(vco, LIMITS[family]["vco"]) and _in(out, LIMITS[family]["out"])
        # among the settings that give it: the highest phase detector frequency, then the VCO
        # nearest the middle of its range (the docstring's rule)
        ties = [(p, -abs(v - mid), v) for o, p, v, _ in every if o == best]
        assert (pfd, -abs(vco - mid), vco) == max(ties)
        made += 1
    assert made > len(targets) // 2


def test_every_parameter_is_within_its_documented_range_and_the_primitive_gets_it():
    s = solve_pll("ice40", 12_000_000, 30)
    assert s.dividers == {"DIVR": 0, "DIVF": 79, "DIVQ": 5} and s.out_mhz == 30
    assert s.params == {"FEEDBACK_PATH": "SIMPLE", "PLLOUT_SELECT": "GENCLK", "DIVR": 0, "DIVF": 79, "DIVQ": 5,
                        "FILTER_RANGE": 1}
    assert solve_pll("ice40", 100_000_000, 50).params["FILTER_RANGE"] == 5     # 100 MHz at the phase detector
    s = solve_pll("ecp5", 25_000_000, 75)
    assert s.dividers == {"CLKI_DIV": 1, "CLKFB_DIV": 3, "CLKOP_DIV": 8} and s.out_mhz == 75
    assert (s.params["CLKOP_CPHASE"], s.params["CLKOP_FPHASE"], s.params["FEEDBK_PATH"]) == (7, 0, "CLKOP")
    assert s.attrs["FREQUENCY_PIN_CLKI"] == "25" and float(s.attrs["FREQUENCY_PIN_CLKOP"]) == 75
    for family, f_in, lo, hi in (("ice40", 12_000_000, 14, 280), ("ecp5", 25_000_000, 3.2, 400)):
        for t in (lo + (hi - lo) * i / 37 for i in range(38)):
            try:
                d = solve_pll(family, f_in, t).dividers
            except BadParameter:
                continue
            if family == "ice40":
                assert 0 <= d["DIVR"] <= 15 and 0 <= d["DIVF"] <= 127 and 1 <= d["DIVQ"] <= 6
            else:
                assert 1 <= d["CLKI_DIV"] <= 128 and 1 <= d["CLKFB_DIV"] <= 80 and 1 <= d["CLKOP_DIV"] <= 128


def test_the_target_is_the_decimal_written():
    # 33 MHz exactly is 12 MHz * 88 / 32: a target of 33.0 makes it, not the one below
    assert solve_pll("ice40", 12_000_000, 33.0).f_out_hz == 33 * MHZ
    assert solve_pll("ice40", 12_000_000, 33).f_out_hz == 33 * MHZ
    assert solve_pll("ice40", 12_000_000, Fraction(99, 4)).f_out_hz == Fraction(24_750_000)


@pytest.mark.parametrize("family,f_in,target,message", [
    ("ice40", 12_000_000, 0, "clock_mhz must be a positive number of MHz, not 0"),
    ("ice40", 12_000_000, -24, "clock_mhz must be a positive number of MHz, not -24"),
    ("ecp5", 25_000_000, float("nan"), "clock_mhz must be a positive number of MHz, not nan"),
    ("ecp5", 25_000_000, "50", "clock_mhz must be a positive number of MHz, not '50'"),
    ("ice40", 12_000_000, True, "clock_mhz must be a positive number of MHz, not True"),
    ("ice40", 12_000_000, 300, "clock_mhz must be between 16.125 and 270 MHz for an iCE40 PLL (SB_PLL40_PAD) "
                               "from a 12 MHz clock, not 300"),
    ("ice40", 12_000_000, 16, "clock_mhz must be between 16.125 and 270 MHz"),
    ("ecp5", 25_000_000, 401, "clock_mhz must be between 3.125 and 400 MHz for an ECP5 PLL (EHXPLLL) from a "
                              "25 MHz clock, not 401"),
    ("ice40", 5_000_000, 30, "the input clock of an iCE40 PLL (SB_PLL40_PAD) must be between 10 and 133 MHz"),
    ("ecp5", 25_000_000.5, 30, "the input clock of an ECP5 PLL (EHXPLLL) must be between 8 and 400 MHz (a whole "
                               "number of Hz), not 25000000.5 Hz"),
    ("gowin", 25_000_000, 30, "family must be one of ice40, ecp5, not 'gowin'"),
])
def test_bad_targets_and_inputs_are_refused_in_one_sentence(family, f_in, target, message):
    with pytest.raises(BadParameter) as e:
        solve_pll(family, f_in, target)
    assert str(e.value).startswith(message) and str(e.value).count(". ") == 0


# ---------------------------------------------------------------- the clock from a build's Fmax
@pytest.mark.parametrize("family,f_in,fmax,margin", [("ice40", 12_000_000, 25.3, 10), ("ice40", 12_000_000, 60, 0),
                                                     ("ice40", 12_000_000, 40, 33.3), ("ecp5", 25_000_000, 53.9, 10),
                                                     ("ecp5", 25_000_000, 190, 5), ("ecp5", 25_000_000, 7, 20)])
def test_the_pll_is_set_to_the_highest_clock_not_above_fmax_less_the_margin(family, f_in, fmax, margin):
    target, pll, why = clock_from_fmax(family, f_in, fmax, margin)
    assert target == pytest.approx(fmax * (1 - margin / 100))
    # brute force: the highest legal output not above the target
    outs = sorted(out for out, *_ in BRUTE[family](f_in))
    best = outs[bisect.bisect_right(outs, Fraction(repr(target)) * MHZ) - 1]
    assert pll.f_out_hz == best and why.endswith(f"makes {pll.out_mhz:g} MHz")


def test_the_default_margin_is_ten_percent():
    assert PLL_MARGIN_PCT == 10.0
    assert clock_from_fmax("ice40", 12_000_000, 25.3)[0] == pytest.approx(22.77)


def test_above_the_plls_range_the_target_is_its_highest_output():
    target, pll, why = clock_from_fmax("ice40", 12_000_000, 400.0)
    assert target == pytest.approx(360) and pll.out_mhz == 270.0 and "above the highest" in why


@pytest.mark.parametrize("fmax,meets", [(15.0, True), (17.0, True), (10.0, False)])
def test_below_the_plls_range_the_oscillator_is_the_clock(fmax, meets):
    # the iCE40 PLL makes nothing below 16.125 MHz from 12 MHz; 17 less 10 % is 15.3, and 15 is 13.5
    target, pll, why = clock_from_fmax("ice40", 12_000_000, fmax)
    assert pll is None and "the 12 MHz oscillator instead" in why
    assert why.endswith("which meets it" if meets else "which does not meet it either")


@pytest.mark.parametrize("margin", [100, 100.0, -0.1, float("inf"), float("nan"), "10", None, True])
def test_a_margin_outside_0_to_100_percent_is_refused(margin):
    with pytest.raises(BadParameter, match=r"^margin_pct must be a percentage from 0 up to \(not including\) 100, "
                                           r"not "):
        clock_from_fmax("ice40", 12_000_000, 30, margin)
    with pytest.raises(BadParameter, match=r"^--pll-margin must be a percentage"):
        check_pll_margin(margin, "--pll-margin")


@pytest.mark.parametrize("fmax", [0, -3, float("nan"), "25", True])
def test_a_bad_fmax_is_refused(fmax):
    with pytest.raises(BadParameter, match=r"^fmax_mhz must be a positive number of MHz, not "):
        clock_from_fmax("ecp5", 25_000_000, fmax)
