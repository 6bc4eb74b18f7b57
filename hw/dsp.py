"""The MAC PE's multiplier in an ECP5 DSP block with the block's own pipeline registers.

Why. Yosys maps a multiplier to the ECP5's MULT18X18D but never moves registers into it
(``synth_ecp5`` has no DSP register packing; the iCE40's ``ice40_dsp`` does this for SB_MAC16).
With ``mul_stages = 2`` the operand and product registers therefore stay in the fabric, and every
multiply is a fabric register -> wire -> combinational DSP -> wire -> fabric register path: on the
11x12 DSP-MAC array on the ECP5-85F that path set the clock at 84.4 MHz (0.52 ns clock-to-out,
3.29 ns of wire into the block, 3.93 ns through the multiplier, 4.11 ns of wire out). Here the
PE instantiates MULT18X18D itself with its input, pipeline and output registers enabled, so the
multiply is register to register inside the block and only one wire crosses into and one out of
it, each in a cycle of its own.

Where. :func:`registered_dsp` is true when a board build elaborates for an ECP5 platform with DSP
blocks on (``boards.platforms.make_platform`` marks the platform with ``mac_dsp``). Everywhere
else (simulation, ``adderhw verilog``, iCE40, ``--no-dsp``) the PE describes the same registers
in plain Amaranth and the synthesiser maps them.

Behaviour (Lattice TN1267, ECP5 and ECP5-5G sysDSP Usage Guide, MULT18X18D): P = A x B, 36 bits,
A and B treated as two's complement when SIGNEDA / SIGNEDB are high. The registers used, all on
CLK0 with CE0 = 1 and RST0 = 0 (no reset: data registers take none in this project, hw.pe), by
``stages``:

  ======  =====================================  ===========================================
  stages  registers                              plain-Amaranth twin in hw.pe.MacPE
  ======  =====================================  ===========================================
  1       output                                 product register
  2       inputs A and B, output                 operand registers, product register
  3       inputs A and B, pipeline, output       operand registers, two product registers
  ======  =====================================  ===========================================

Widths: operands signed ``width`` <= 16, sign-extended to the block's 18 bits; the product is the
low 2·width bits of P (exact: A·B lies in [-2^(2·width-2) + 2^(width-1), 2^(2·width-2)], which
2·width signed bits hold).
Latency: ``stages`` cycles from A/B to P, the same as the twin. Cost: one MULT18X18D per PE. The
fabric loses the product register (operand registers never cost any: Yosys merges them with the
PE's forwarding registers): 68 flip-flops per 8-bit PE (K <= 144, ``adderhw bench pe``) against
82 for the one-stage DSP-MAC without the block's registers, and the 4x4 array runs at 161.4
instead of 137.5 MHz.

Verification: there is no simulation model of MULT18X18D in the open tools (Yosys ships a black
box). ``sim.dsp_model`` is this project's behavioural model of the cell as TN1267
describes it (registers and signedness as used here; other modes refused), and a test runs the
ECP5-flavoured array Verilog with it on Icarus against golden and the cycle model. That checks
the wiring (bit order, sign extension, register choice, latency); that the silicon matches the
documented behaviour is Lattice's part.
"""
from amaranth.hdl import ClockSignal, Const, Instance, Signal, signed

from adderhw.base.platform import family

__all__ = ["registered_dsp", "mult18x18d", "DSP_PARAMETERS", "Ecp5DspTarget"]

#: MULT18X18D parameters by pipeline stages (the rest keep the primitive's defaults, except GSR)
DSP_PARAMETERS = {
    1: {"REG_OUTPUT_CLK": "CLK0"},
    2: {"REG_INPUTA_CLK": "CLK0", "REG_INPUTB_CLK": "CLK0", "REG_OUTPUT_CLK": "CLK0"},
    3: {"REG_INPUTA_CLK": "CLK0", "REG_INPUTB_CLK": "CLK0", "REG_PIPELINE_CLK": "CLK0",
        "REG_OUTPUT_CLK": "CLK0"},
}


class Ecp5DspTarget:
    """A stand-in platform for elaborating outside a board build as an ECP5 build with DSP blocks
    does (``adderhw verilog --target ecp5-dsp``, simulation with the MULT18X18D model)."""
    family = "ecp5"
    mac_dsp = True


def registered_dsp(platform):
    """Whether the MAC PE instantiates MULT18X18D with its registers on ``platform``: an ECP5
    platform that a board build marked with ``mac_dsp = True``."""
    return family(platform) == "ecp5" and bool(getattr(platform, "mac_dsp", False))


def mult18x18d(m, a, b, stages, name="mul"):
    """Add a MULT18X18D to ``m`` multiplying signed ``a`` and ``b`` (each at most 16 bits) with
    ``stages`` (1-3) registers; returns the signed product, ``len(a) + len(b)`` bits, valid
    ``stages`` cycles after its operands."""
    if stages not in DSP_PARAMETERS:
        raise ValueError(f"stages must be 1, 2 or 3, not {stages!r}")
    if max(len(a), len(b)) > 16:
        raise ValueError(f"operands must be at most 16 bits wide, not {len(a)} and {len(b)}")
    p = Signal(36, name=f"{name}_p")
    a18, b18 = Signal(signed(18), name=f"{name}_a18"), Signal(signed(18), name=f"{name}_b18")
    m.d.comb += [a18.eq(a), b18.eq(b)]        # sign extension to the block's 18 bits
    # Only the ports in use are connected (as Yosys's own mapping does): nextpnr ties off the others
    # itself, while a constant on a port is a net to route; tying the 36 shift-in pins (SRIA, SRIB)
    # and the unused clocks to 0 made an 8x8 array unroutable ("$PACKER_GND_NET").
    ports = {"i_CLK0": ClockSignal("sync"), "i_CE0": Const(1, 1), "i_RST0": Const(0, 1)}
    for i in range(18):
        ports[f"i_A{i}"] = a18[i]
        ports[f"i_B{i}"] = b18[i]
        ports[f"i_C{i}"] = Const(0, 1)
    for i in range(36):
        ports[f"o_P{i}"] = p[i]
    params = {f"p_{k}": v for k, v in DSP_PARAMETERS[stages].items()}
    params["p_GSR"] = "DISABLED"
    m.submodules[name] = Instance(
        "MULT18X18D", **params,
        i_SIGNEDA=Const(1, 1), i_SIGNEDB=Const(1, 1), i_SOURCEA=Const(0, 1), i_SOURCEB=Const(0, 1),
        **ports)
    prod = Signal(signed(len(a) + len(b)), name=f"{name}_prod")
    m.d.comb += prod.eq(p[:len(a) + len(b)])
    return prod
