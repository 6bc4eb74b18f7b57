"""``ArrayConfig``: the one frozen, self-validating description of a PE array.

It flows everywhere: CLI → RTL generator (``hw``) → golden model → cycle model → simulators →
board builds. Derived widths and latencies are properties, never stored twice.
It lives in the base package, which every package may import (the RTL, the golden and cycle
models, the simulators and the board flows), so that ``hw`` does not depend on ``golden``.
"""
from dataclasses import dataclass, replace

from .errors import BadParameter
from .pe_kind import PE_KINDS, pe_kind
from .validate import check_int

__all__ = ["ArrayConfig", "PE_KINDS", "SAD_STAGES", "SKEWS", "DATAFLOWS", "check_dataflow", "dataflow_flag", "dataflow_suffix", "RTL_WIDTHS", "ARRAY_SIDE", "check_config",
           "check_array_shape"]

#: what the register between a SAD PE's two stages holds (ArrayConfig.sad_stage)
SAD_STAGES = ("difference", "operands")
#: how the array's skew lanes are built (ArrayConfig.skew, see hw.skew)
SKEWS = ("registers", "memory")
#: how operands reach the PEs (ArrayConfig.dataflow, see hw.array)
DATAFLOWS = ("systolic", "broadcast")
#: widths the RTL generator supports
RTL_WIDTHS = (2, 16)
#: the array sizes the generator builds: rows and cols from 1 to 64 each
ARRAY_SIDE = (1, 64)


@dataclass(frozen=True)
class ArrayConfig:
    """An R x C output-stationary systolic array of SAD or MAC processing elements.

    Fields
    ------
    rows, cols : int
        Array size R x C (1 to 64 each). PE(r, c) owns output (t = tile_t·R + r, p = tile_p·C + c).
    width : int
        Signed fixed-point width of filters and activations, 2 to 16 bits.
    k_max : int
        Largest reduction length K a tile may have; it sets the accumulator width (worst case).
    pe : "sad" or "mac"
        Subtract-abs-accumulate (adder layer) or multiply-accumulate (the multiplier twin).
    mul_stages : int
        MAC only: register stages inside the multiplier (1 to 3). Deeper raises Fmax and latency.
    sad_stage : "difference" or "operands"
        SAD only: what the register between the PE's two stages holds. "difference" (default):
        |a - b| and its sign, registered from the PE's inputs (the accumulate stage is one adder).
        "operands": nothing of its own; the first stage is the operand registers that every PE
        has anyway to forward a and b to its neighbours, and |a - b| is formed in the accumulate
        stage. The same latency and results, 9 fewer flip-flops per 8-bit PE, and a longer
        accumulate stage (subtract, then add), for devices whose flip-flops bound the array.
    skew : "registers" or "memory"
        How the array delays row r's filter lane by r cycles and column c's activation lane by c
        (``hw.skew``). "registers" (default): chains of flip-flops. "memory": the lanes of 4 cycles
        or more are RAM ring buffers (distributed RAM on the ECP5, block RAM on the iCE40) with two
        registers each; the same cycles and results, and 6,708 fewer flip-flops at 32x32 on the
        ECP5-85F (measured: docs/history.md).
    dataflow : "systolic" or "broadcast"
        How a beat reaches the PEs (``hw.array``). "systolic" (default): operands move one PE per
        cycle, behind a skew, so every wire stays local and large arrays keep their clock.
        "broadcast": row r's filter value and column c's activation are registered once and
        reach every PE of the row or column in the same cycle; no skew and no forwarding
        registers (about 16 fewer flip-flops per 8-bit PE plus the skew's), and a drain gap
        that no longer grows with C, for small devices whose flip-flops bound the array. Its
        fan-out grows with the array, so large arrays lose clock. Takes ``skew="registers"``.
    """
    rows: int = 8
    cols: int = 8
    width: int = 8
    k_max: int = 1152
    pe: str = "sad"
    mul_stages: int = 1
    sad_stage: str = "difference"
    skew: str = "registers"
    dataflow: str = "systolic"

    def __post_init__(self):
        for name, lo, hi in (("rows", *ARRAY_SIDE), ("cols", *ARRAY_SIDE), ("width", *RTL_WIDTHS),
                             ("k_max", 1, 1 << 20), ("mul_stages", 1, 3)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lo=lo, hi=hi))
        kind = pe_kind(self.pe)
        if not kind.has_multiplier and self.mul_stages != 1:
            raise BadParameter(f"mul_stages applies to the MAC PE only; a SAD PE takes 1, not {self.mul_stages}")
        if self.sad_stage not in SAD_STAGES:
            raise BadParameter(f"sad_stage must be one of {', '.join(map(repr, SAD_STAGES))}, not {self.sad_stage!r}")
        if kind.has_multiplier and self.sad_stage != "difference":
            raise BadParameter(f"sad_stage applies to the SAD PE only; a MAC PE takes 'difference', "
                               f"not {self.sad_stage!r}")
        if self.skew not in SKEWS:
            raise BadParameter(f"skew must be one of {', '.join(map(repr, SKEWS))}, not {self.skew!r}")
        check_dataflow(self.dataflow)
        if self.dataflow == "broadcast" and self.skew != "registers":
            raise BadParameter(f"skew applies to the systolic dataflow only; a broadcast array has no skew "
                               f"and takes 'registers', not {self.skew!r}")

    @property
    def kind(self):
        """The PE kind (base.pe_kind.PeKind) that ``pe`` names."""
        return pe_kind(self.pe)

    # ---- derived widths
    @property
    def acc_width(self):
        """Accumulator bits: worst case over k_max terms (unsigned for SAD, signed for MAC)."""
        return self.kind.acc_width(self.width, self.k_max)

    @property
    def acc_signed(self):
        return self.kind.acc_signed

    # ---- derived latencies (the RTL implements exactly these; tests compare)
    @property
    def pe_stages(self):
        """Cycles from operands at a PE's inputs to the sum in its result register.

        SAD: difference register (or, with ``sad_stage="operands"``, the operand registers),
        then accumulate (2). MAC: ``mul_stages`` product registers,
        then accumulate (1 + mul_stages). This is the one source of the PE latency: the PEs
        (``hw.pe``) read it and build ``pe_stages - 1`` registers in front of the accumulator,
        and the cycle model reads it too.
        """
        return 1 + self.mul_stages if self.kind.has_multiplier else 2

    def arrival(self, r, c):
        """Cycles from the acceptance of a beat to the cycle its operands are at PE(r, c)'s inputs:
        r + c behind the systolic skew, 1 (the broadcast registers) for every PE of a broadcast
        array. The PE adds the term ``pe_stages`` cycles later; it captures a tile's sum in
        cycle ``arrival(r, c) + pe_stages - 1`` after the tile's last beat."""
        return r + c if self.dataflow == "systolic" else 1

    @property
    def drain_gap(self):
        """G: the fewest cycles between two tiles' last beats, the one source of the rule (hw.drain
        builds it, golden.cycles counts with it, the formal spec and ``adderhw prove`` assume it);
        K >= G hides the drain. The last PE captures ``arrival(R - 1, C - 1) + S - 1`` cycles after
        the last beat (S = ``pe_stages``), its column's chain then shifts R times and the output
        FIFO offers the last row one cycle later: G = arrival(R - 1, C - 1) + S + R + 1, which is
        2R + C + S - 1 for the systolic dataflow and R + S + 2 for the broadcast one."""
        return self.arrival(self.rows - 1, self.cols - 1) + self.pe_stages + self.rows + 1

    @property
    def pes(self):
        return self.rows * self.cols

    def check_k(self, k):
        """Raise unless 1 <= k <= k_max (K of one tile at run time)."""
        return check_int("K", k, lo=1, hi=self.k_max)

    def with_(self, **changes):
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def record_fields(self, pes=False):
        """The config as a result's JSON records it: rows, cols, width, k_max and pe (with ``pes``
        the PE count after them), then only the options that differ from their defaults
        (mul_stages for a multiplier PE, sad_stage, skew, dataflow)."""
        fields = {"rows": self.rows, "cols": self.cols, "width": self.width, "k_max": self.k_max, "pe": self.pe}
        if pes:
            fields["pes"] = self.pes
        if self.kind.has_multiplier:
            fields["mul_stages"] = self.mul_stages
        elif self.sad_stage != "difference":
            fields["sad_stage"] = self.sad_stage
        if self.skew != "registers":
            fields["skew"] = self.skew
        if self.dataflow != "systolic":
            fields["dataflow"] = self.dataflow
        return fields

    def describe(self):
        kind = self.kind.label
        if self.kind.has_multiplier:
            kind += f" (multiplier stages {self.mul_stages})"
        elif self.sad_stage != "difference":
            kind += f" (stage 1: {self.sad_stage})"
        sign = "signed" if self.acc_signed else "unsigned"
        skew = "" if self.skew == "registers" else f", skew in {self.skew}"
        flow = "" if self.dataflow == "systolic" else f" {self.dataflow}"
        return (f"{self.rows}x{self.cols}{flow} {kind} array, {self.width}-bit operands, K <= {self.k_max}, "
                f"{self.acc_width}-bit {sign} accumulators, PE latency {self.pe_stages}{skew}")


def check_array_shape(rows, cols, width=None, mac_rows=None, what=""):
    """The checks ArrayConfig would make of ``rows``, ``cols`` and ``width`` (and that ``mac_rows``
    is 0 to ``rows``), for a flow to make before any training or build; ``what`` prefixes the
    names (``"--"`` for the command line's options). Returns the values."""
    rows = check_int(f"{what}rows", rows, lo=ARRAY_SIDE[0], hi=ARRAY_SIDE[1])
    cols = check_int(f"{what}cols", cols, lo=ARRAY_SIDE[0], hi=ARRAY_SIDE[1])
    if width is not None:
        check_int(f"{what}width", width, lo=RTL_WIDTHS[0], hi=RTL_WIDTHS[1])
    if mac_rows is not None:
        check_int(f"{what}mac-rows" if what else "mac_rows", mac_rows, lo=0, hi=rows)
    return rows, cols


def check_dataflow(dataflow):
    """``dataflow`` if it is one of :data:`DATAFLOWS`; else a BadParameter naming it (the one check,
    for ArrayConfig and for the flows that take the option before any config exists)."""
    if dataflow not in DATAFLOWS:
        raise BadParameter(f"dataflow must be one of {', '.join(map(repr, DATAFLOWS))}, not {dataflow!r}")
    return dataflow


def dataflow_flag(dataflow):
    """The command-line words that name ``dataflow`` in a result's command: none for the default,
    " --dataflow <name>" for any other (a command names only what differs from the defaults)."""
    return "" if dataflow in (None, DATAFLOWS[0]) else f" --dataflow {dataflow}"


def dataflow_suffix(dataflow):
    """The suffix that ``dataflow`` adds to a build directory's or a tag's name: none for the
    default, so that builds made before the option keep their names; "-<name>" for any other."""
    return "" if dataflow in (None, DATAFLOWS[0]) else f"-{dataflow}"


def check_config(config, name="config"):
    """Return ``config`` if it is an :class:`ArrayConfig`; raise :class:`BadParameter` otherwise."""
    if not isinstance(config, ArrayConfig):
        raise BadParameter(f"{name} must be an ArrayConfig, not {type(config).__name__} {config!r}")
    return config
