"""The boards adderhw builds for, through amaranth-boards.

Each board's clock resource is replaced by a copy constrained at the requested frequency, so
nextpnr times the design against the target, not the board oscillator (12/25/48 MHz).
"""
import importlib
from dataclasses import dataclass

from amaranth.build import Clock, Resource

from adderhw.base.errors import BadParameter
from adderhw.base.platform import BUILD_TARGET_MHZ, SWEEP_TARGET_MHZ, family_mhz

# the clock targets are base's (base.platform), re-exported here beside the boards they apply to
__all__ = ["Board", "BOARDS", "board", "make_platform", "PROGRAMMING_TOOLS", "BUILD_TARGET_MHZ", "SWEEP_TARGET_MHZ",
           "family_mhz"]

#: tools only needed to program or package for programming, never for a build
PROGRAMMING_TOOLS = ("openFPGALoader", "dfu-suffix", "dfu-util", "iceprog")


@dataclass(frozen=True)
class Board:
    name: str
    family: str            # "ice40" or "ecp5"
    device: str            # for reports
    luts: int              # logic capacity: iCE40 logic cells, ECP5 LUT4s
    dsps: int              # iCE40 SB_MAC16, ECP5 MULT18X18D
    platform: str          # amaranth_boards module:class

    def platform_class(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)


BOARDS = {b.name: b for b in [
    Board("icebreaker", "ice40", "iCE40UP5K-SG48", 5280, 8, "icebreaker:ICEBreakerPlatform"),
    Board("hx8k", "ice40", "iCE40HX8K-CT256", 7680, 0, "ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform"),
    Board("ulx3s-85f", "ecp5", "LFE5U-85F-6BG381C", 83640, 156, "ulx3s:ULX3S_85F_Platform"),
    Board("orangecrab-25f", "ecp5", "LFE5U-25F-8MG285C", 24288, 28, "orangecrab_r0_2:OrangeCrabR0_2_25FPlatform"),
]}


def board(name):
    if name not in BOARDS:
        raise BadParameter(f"board must be one of {', '.join(BOARDS)}, not {name!r}")
    return BOARDS[name]


def make_platform(b, freq_hz, dsp=False):
    """An amaranth-boards platform whose default clock is constrained at ``freq_hz``.

    ``dsp``: the build maps multipliers to DSP blocks; the platform carries it as ``mac_dsp``, so
    that on the ECP5 the MAC PE instantiates MULT18X18D with its own registers (hw.dsp)."""
    base = b.platform_class()
    clk = base.default_clk
    resources = []
    for res in base.resources:
        if res.name == clk and res.number == 0:
            res = Resource(res.name, res.number, *res.ios, Clock(freq_hz), res.attrs)
        resources.append(res)

    # Building never programs a board, so a programmer or packaging tool that some platforms require
    # (openFPGALoader on the ULX3S, dfu-suffix on the OrangeCrab) must neither be required nor run.
    def required_tools(self):
        return [t for t in base.required_tools.fget(self) if t not in PROGRAMMING_TOOLS]

    def command_templates(self):
        return [t for t in base.command_templates.fget(self)
                if not any(f'invoke_tool("{p}")' in t for p in PROGRAMMING_TOOLS)]

    platform_cls = type(f"{base.__name__}At{int(freq_hz / 1e6)}MHz", (base,), {
        "resources": resources,
        "required_tools": property(required_tools),
        "command_templates": property(command_templates),
        "mac_dsp": bool(dsp),
    })
    return platform_cls()
