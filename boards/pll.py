"""``solve_pll``: the settings of a board's PLL that give the highest clock not above a target.

One family each: the iCE40's ``SB_PLL40_PAD`` (the iCEBreaker's 12 MHz oscillator sits on a pin
that feeds the PLL directly) and the ECP5's ``EHXPLLL``. Given the input clock and a target,
:func:`solve_pll` returns the achievable output closest to the target without exceeding it, with
the divider values, as a :class:`PllSettings`; ``PllSettings.params`` are the primitive's
parameters (boards.clocking instantiates it).

Where the numbers come from
---------------------------
* iCE40, Lattice TN1251 "iCE40 sysCLOCK PLL Design and Usage Guide" and the iCE40 data sheets:
  input 10-133 MHz, phase detector (F_in / (DIVR+1)) 10-133 MHz, VCO 533-1066 MHz, output
  16-275 MHz; DIVR 0-15 (4 bits), DIVF 0-127 (7 bits; the guide says 63, the limit of the other
  feedback modes: icestorm's icepll notes the error), DIVQ 1-6. SIMPLE feedback:
  F_vco = F_pfd * (DIVF+1), F_out = F_vco / 2**DIVQ. FILTER_RANGE follows the phase detector's
  frequency (the guide's table, as icepll codes it: below 17, 26, 44, 66, 101 MHz -> 1 to 5, else 6).
* ECP5, Lattice TN1263 / FPGA-TN-02200 "ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and Usage Guide"
  and the ECP5 data sheet's sysCLOCK PLL timing: input 8-400 MHz, phase detector
  (F_in / CLKI_DIV) 3.125-400 MHz, VCO 400-800 MHz, output 3.125-400 MHz; CLKI_DIV and CLKOP_DIV
  1-128, CLKFB_DIV 1-80 (the FPGA Libraries Reference Guide's limit, which prjtrellis's ecppll
  keeps; LiteX allows 128, so 80 is the safe side). With the feedback taken from CLKOP:
  F_out = F_pfd * CLKFB_DIV and F_vco = F_out * CLKOP_DIV. CLKOP_CPHASE = CLKOP_DIV - 1 is the
  zero phase shift (LiteX's ECP5PLL), CLKOP_FPHASE = 0; the loop filter attributes are ecppll's.

Setting the clock from a build
------------------------------
:func:`clock_from_fmax` turns the Fmax that a build achieved into the PLL setting of the next build:
the highest output not above Fmax·(1 − margin), with a margin of ``PLL_MARGIN_PCT`` (10 %) unless
told otherwise. The margin covers what changes between the two builds: the second is placed and
routed again, with the PLL in it and its clock constrained at the new frequency, so its Fmax
differs from the first's (by a few percent between nextpnr seeds alone); its report says whether
timing is met at the clock chosen.

Ties (the same output from several settings) go to the highest phase-detector frequency (the
least jitter multiplied up), then to the VCO nearest the middle of its range, then the higher VCO.
Every frequency is an exact ``Fraction`` of Hz, so "not above the target" is exact too.
"""
import functools
import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction

from adderhw.base.errors import BadParameter

__all__ = ["PllFamily", "PllSettings", "PLL_FAMILIES", "solve_pll", "pll_range", "PLL_MARGIN_PCT",
           "check_pll_margin", "clock_from_fmax"]

MHZ = 10 ** 6


@dataclass(frozen=True)
class PllFamily:
    """The documented limits of one PLL (frequencies in Hz, dividers inclusive)."""
    name: str
    primitive: str
    f_in: tuple
    f_pfd: tuple
    f_vco: tuple
    f_out: tuple
    dividers: dict = field(compare=False)

    @property
    def label(self):
        return f"an {'iCE40' if self.name == 'ice40' else 'ECP5'} PLL ({self.primitive})"


ICE40 = PllFamily("ice40", "SB_PLL40_PAD", f_in=(10 * MHZ, 133 * MHZ), f_pfd=(10 * MHZ, 133 * MHZ),
                  f_vco=(533 * MHZ, 1066 * MHZ), f_out=(16 * MHZ, 275 * MHZ),
                  dividers={"DIVR": (0, 15), "DIVF": (0, 127), "DIVQ": (1, 6)})
ECP5 = PllFamily("ecp5", "EHXPLLL", f_in=(8 * MHZ, 400 * MHZ), f_pfd=(3_125_000, 400 * MHZ),
                 f_vco=(400 * MHZ, 800 * MHZ), f_out=(3_125_000, 400 * MHZ),
                 dividers={"CLKI_DIV": (1, 128), "CLKFB_DIV": (1, 80), "CLKOP_DIV": (1, 128)})
PLL_FAMILIES = {f.name: f for f in (ICE40, ECP5)}


@dataclass(frozen=True)
class PllSettings:
    """One PLL setting: ``dividers`` (the primitive's divider parameters) and the exact
    frequencies they give, in Hz."""
    family: str
    primitive: str
    f_in_hz: Fraction
    dividers: dict
    f_pfd_hz: Fraction
    f_vco_hz: Fraction
    f_out_hz: Fraction

    @property
    def out_mhz(self):
        return float(self.f_out_hz / MHZ)

    @property
    def params(self):
        """The primitive's parameters (``p_`` of an Amaranth ``Instance``)."""
        d = self.dividers
        if self.family == "ice40":
            return {"FEEDBACK_PATH": "SIMPLE", "PLLOUT_SELECT": "GENCLK", **d,
                    "FILTER_RANGE": _ice40_filter_range(self.f_pfd_hz)}
        return {"FEEDBK_PATH": "CLKOP", "CLKOP_ENABLE": "ENABLED", "CLKI_DIV": d["CLKI_DIV"],
                "CLKFB_DIV": d["CLKFB_DIV"], "CLKOP_DIV": d["CLKOP_DIV"], "CLKOP_CPHASE": d["CLKOP_DIV"] - 1,
                "CLKOP_FPHASE": 0, "PLLRST_ENA": "DISABLED", "INTFB_WAKE": "DISABLED",
                "STDBY_ENABLE": "DISABLED", "DPHASE_SOURCE": "DISABLED", "OUTDIVIDER_MUXA": "DIVA"}

    @property
    def attrs(self):
        """The primitive's attributes (``a_``): ECP5 loop-filter settings and the frequencies."""
        if self.family == "ice40":
            return {}
        return {"FREQUENCY_PIN_CLKI": f"{float(self.f_in_hz / MHZ):g}",
                "FREQUENCY_PIN_CLKOP": f"{self.out_mhz:.6f}", "ICP_CURRENT": "12", "LPF_RESISTOR": "8",
                "MFG_ENABLE_FILTEROPAMP": "1", "MFG_GMCREF_SEL": "2"}

    def describe(self):
        divs = " ".join(f"{k}={v}" for k, v in self.dividers.items())
        return (f"{self.primitive} {divs} (phase detector {float(self.f_pfd_hz / MHZ):g} MHz, VCO "
                f"{float(self.f_vco_hz / MHZ):g} MHz): {self.out_mhz:g} MHz from {float(self.f_in_hz / MHZ):g} MHz")

    def record(self):
        """A JSON-able record for build reports."""
        return {"primitive": self.primitive, "dividers": dict(self.dividers), "params": self.params,
                "f_in_mhz": float(self.f_in_hz / MHZ), "f_pfd_mhz": float(self.f_pfd_hz / MHZ),
                "f_vco_mhz": float(self.f_vco_hz / MHZ), "f_out_mhz": self.out_mhz}


def _ice40_filter_range(f_pfd):
    for i, edge in enumerate((17, 26, 44, 66, 101), start=1):
        if f_pfd < edge * MHZ:
            return i
    return 6


def _within(f, lo_hi):
    return lo_hi[0] <= f <= lo_hi[1]


def _lines(fam, f_in):
    """Each choice of the dividers that do not multiply: (fixed dividers, name of the multiplying
    divider, its value's legal interval [k_lo, k_hi], F_out per unit of it, F_vco per unit, F_pfd).
    F_out and F_vco are proportional to the multiplying divider, so every limit is an interval."""
    if fam.name == "ice40":
        (r_lo, r_hi), (f_lo, f_hi), (q_lo, q_hi) = (fam.dividers[n] for n in ("DIVR", "DIVF", "DIVQ"))
        for divr in range(r_lo, r_hi + 1):
            pfd = f_in / (divr + 1)
            if not _within(pfd, fam.f_pfd):
                continue
            for divq in range(q_lo, q_hi + 1):
                # k = DIVF + 1
                yield {"DIVR": divr, "DIVQ": divq}, "DIVF", (f_lo + 1, f_hi + 1), pfd / 2 ** divq, pfd, pfd
    else:
        (i_lo, i_hi), (fb_lo, fb_hi), (op_lo, op_hi) = (fam.dividers[n] for n in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV"))
        for clki in range(i_lo, i_hi + 1):
            pfd = f_in / clki
            if not _within(pfd, fam.f_pfd):
                continue
            for clkop in range(op_lo, op_hi + 1):
                yield {"CLKI_DIV": clki, "CLKOP_DIV": clkop}, "CLKFB_DIV", (fb_lo, fb_hi), pfd, pfd * clkop, pfd


def _interval(k_range, per_unit_limits):
    """The integers k in ``k_range`` with k * unit within each (unit, (lo, hi)) of ``per_unit_limits``."""
    lo, hi = k_range
    for unit, (f_lo, f_hi) in per_unit_limits:
        lo = max(lo, math.ceil(f_lo / unit))
        hi = min(hi, math.floor(f_hi / unit))
    return lo, hi


def _settings(fam, f_in, fixed, name, k, out_unit, vco_unit, pfd):
    value = k - 1 if name == "DIVF" else k
    dividers = {**fixed, name: value}
    order = list(fam.dividers)
    dividers = {n: dividers[n] for n in order}
    return PllSettings(fam.name, fam.primitive, f_in, dividers, pfd, vco_unit * k, out_unit * k)


def _family(family):
    if family not in PLL_FAMILIES:
        raise BadParameter(f"family must be one of {', '.join(PLL_FAMILIES)}, not {family!r}")
    return PLL_FAMILIES[family]


def _input(fam, f_in_hz):
    if isinstance(f_in_hz, bool) or not isinstance(f_in_hz, numbers.Rational) or not _within(f_in_hz, fam.f_in):
        raise BadParameter(f"the input clock of {fam.label} must be between {fam.f_in[0] / MHZ:g} and "
                           f"{fam.f_in[1] / MHZ:g} MHz (a whole number of Hz), not {f_in_hz!r} Hz")
    return Fraction(f_in_hz)


@functools.lru_cache(maxsize=16)
def _table(family, f_in):
    """The legal lines of :func:`_lines` for ``f_in``, with their multiplier's interval narrowed to
    the VCO's and the output's ranges."""
    fam = PLL_FAMILIES[family]
    table = []
    for fixed, name, k_range, out_unit, vco_unit, pfd in _lines(fam, f_in):
        k_lo, k_hi = _interval(k_range, [(vco_unit, fam.f_vco), (out_unit, fam.f_out)])
        if k_lo <= k_hi:
            table.append((fixed, name, k_lo, k_hi, out_unit, vco_unit, pfd))
    return tuple(table)


def pll_range(family, f_in_hz):
    """(lowest, highest) output in Hz that ``family``'s PLL makes from ``f_in_hz``."""
    fam = _family(family)
    table = _table(fam.name, _input(fam, f_in_hz))
    return min(u * lo for _, _, lo, _, u, _, _ in table), max(u * hi for _, _, _, hi, u, _, _ in table)


def solve_pll(family, f_in_hz, target_mhz):
    """The :class:`PllSettings` whose output is the highest not above ``target_mhz`` that
    ``family``'s PLL ("ice40" or "ecp5") makes from ``f_in_hz`` (an integer number of Hz).

    A target that is not a positive number, or lies outside the range the PLL makes from this
    input (:func:`pll_range`), is refused with one sentence."""
    fam = _family(family)
    f_in = _input(fam, f_in_hz)
    if isinstance(target_mhz, bool) or not isinstance(target_mhz, numbers.Real) or not math.isfinite(target_mhz) \
            or target_mhz <= 0:
        raise BadParameter(f"clock_mhz must be a positive number of MHz, not {target_mhz!r}")
    # the decimal the user wrote, exactly: 33.3 means 33.3 MHz, not the binary float below it
    target = Fraction(repr(float(target_mhz))) * MHZ if isinstance(target_mhz, float) else Fraction(target_mhz) * MHZ
    lo, hi = pll_range(family, f_in_hz)
    if not lo <= target <= hi:
        raise BadParameter(f"clock_mhz must be between {float(lo / MHZ):.6g} and {float(hi / MHZ):.6g} MHz for "
                           f"{fam.label} from a {float(f_in / MHZ):g} MHz clock, not {float(target_mhz):g}")
    mid = Fraction(fam.f_vco[0] + fam.f_vco[1], 2)
    best, best_key = None, None
    for line in _table(fam.name, f_in):
        _, _, k_lo, k_hi, out_unit, vco_unit, pfd = line
        k = min(k_hi, target // out_unit)
        if k < k_lo:
            continue
        out = out_unit * k
        if best_key is not None and out < best_key[0]:
            continue
        vco = vco_unit * k
        key = (out, pfd, -abs(vco - mid), vco)
        if best_key is None or key > best_key:
            best, best_key = (line, k), key
    (fixed, name, _, _, out_unit, vco_unit, pfd), k = best
    return _settings(fam, f_in, fixed, name, k, out_unit, vco_unit, pfd)


#: the default margin below the achieved Fmax, in percent, of :func:`clock_from_fmax`
PLL_MARGIN_PCT = 10.0


def check_pll_margin(margin_pct, name="margin_pct"):
    """``margin_pct`` as a float, or one sentence if it is not a percentage from 0 up to (not
    including) 100; ``name`` is the parameter the sentence names."""
    ok = isinstance(margin_pct, numbers.Real) and not isinstance(margin_pct, bool) and math.isfinite(margin_pct) \
        and 0 <= margin_pct < 100
    if not ok:
        shown = f"{margin_pct:g}" if isinstance(margin_pct, numbers.Real) and not isinstance(margin_pct, bool) \
            else repr(margin_pct)
        raise BadParameter(f"{name} must be a percentage from 0 up to (not including) 100, not {shown}")
    return float(margin_pct)


def clock_from_fmax(family, f_in_hz, fmax_mhz, margin_pct=PLL_MARGIN_PCT):
    """The clock to run a design at whose build reached ``fmax_mhz`` when clocked from ``f_in_hz``:
    the target is Fmax·(1 − ``margin_pct``/100), capped at the highest output of ``family``'s PLL.
    Returns (target_mhz, settings, why): ``settings`` the :class:`PllSettings` of the highest output
    not above the target, or None where the target lies below the PLL's lowest output (the
    oscillator is then the clock: it meets the target or nothing does); ``why`` says which, in
    words."""
    fam = _family(family)
    f_in = _input(fam, f_in_hz)
    margin_pct = check_pll_margin(margin_pct)
    if isinstance(fmax_mhz, bool) or not isinstance(fmax_mhz, numbers.Real) or not math.isfinite(fmax_mhz) \
            or fmax_mhz <= 0:
        raise BadParameter(f"fmax_mhz must be a positive number of MHz, not {fmax_mhz!r}")
    target = fmax_mhz * (1 - margin_pct / 100)
    lo, hi = (float(f / MHZ) for f in pll_range(family, f_in_hz))
    osc = float(f_in / MHZ)
    said = f"Fmax {fmax_mhz:.2f} MHz less {margin_pct:g} % is {target:.2f} MHz"
    if target > hi:
        return target, solve_pll(family, f_in_hz, hi), f"{said}, above the highest that {fam.label} makes, {hi:g} MHz"
    if target < lo:
        where = "which meets it" if osc <= target else "which does not meet it either"
        return target, None, (f"{said}, below the lowest that {fam.label} makes, {lo:.6g} MHz: the {osc:g} MHz "
                              f"oscillator instead, {where}")
    settings = solve_pll(family, f_in_hz, target)
    return target, settings, f"{said}: {fam.label} makes {settings.out_mhz:g} MHz"
