"""Verilog generation for the array: deterministic bytes, no absolute paths.

``emit_src=False`` drops the ``(* src = "/abs/path..." *)`` attributes Amaranth would write,
so the same config always gives the same file wherever it is generated with the same Yosys.
Amaranth converts with the Yosys it selects (``AMARANTH_USE_YOSYS``; by default a system Yosys
named by ``YOSYS`` or found on PATH, else its built-in one). adderhw does not change that choice
and never sets ``YOSYS`` itself (the board flows pass their tools to the build process only), so
on a machine without a system Yosys the text comes from Amaranth's built-in Yosys.
"""
from amaranth.back import verilog

from adderhw.base.errors import BadParameter

from amaranth.hdl import Shape

from .array import SystolicArray, array_signature
from .dsp import Ecp5DspTarget

__all__ = ["generate_verilog", "port_summary", "VERILATOR_WAIVERS", "TARGETS", "check_target"]

#: what the Verilog is elaborated for: "generic" (plain registers and operators, for any tool) or
#: "ecp5-dsp" (as an ECP5 board build with DSP blocks elaborates it: the MAC PEs instantiate
#: MULT18X18D with its own registers, hw.dsp; a SAD array is the same as generic)
TARGETS = ("generic", "ecp5-dsp")

#: Verilator lint warnings that Amaranth's generated code triggers by design, waived by name
#: (every other -Wall warning stays an error):
#:   PROCASSINIT  - registers are declared with their reset value (``reg x = 0;``) and also
#:                  assigned in ``always`` blocks; that is how Amaranth emits reset values.
#:   UNUSEDSIGNAL - Amaranth keeps intermediate wires and bits that nothing reads.
#:   WIDTHEXPAND, WIDTHTRUNC - Amaranth relies on Verilog's implicit zero/sign extension and
#:                  truncation in arithmetic (``acc + $5`` with a narrower ``$5``); the widths are
#:                  the intended ones (Amaranth's own width rules have already been applied).
#:   DECLFILENAME - all modules of the hierarchy are written to one file named after the top.
#:   CASEINCOMPLETE - a mux over a non-power-of-two number of rows becomes a ``case`` without
#:                  every pattern; Amaranth assigns the default value just before each ``case``.
VERILATOR_WAIVERS = ("PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND", "WIDTHTRUNC", "DECLFILENAME",
                     "CASEINCOMPLETE")


def _check_name(name):
    if not name or not (name[0].isalpha() or name[0] == "_") or not all(ch.isalnum() or ch == "_" for ch in name):
        raise BadParameter(f"name must be a Verilog identifier (letters, digits, _; not starting with a digit), not {name!r}")
    return name


def check_target(target):
    """``target`` if it is one of :data:`TARGETS`, else a BadParameter naming them."""
    if target not in TARGETS:
        raise BadParameter(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    return target


def generate_verilog(config, name="adder_array", target="generic"):
    """Verilog text of ``SystolicArray(config)`` with top module ``name``, elaborated for
    ``target`` (:data:`TARGETS`)."""
    _check_name(name)
    platform = Ecp5DspTarget() if check_target(target) == "ecp5-dsp" else None
    return verilog.convert(SystolicArray(config), name=name, platform=platform, emit_src=False)


def port_summary(config):
    """Top-level ports as (name, direction, width), in the order Amaranth emits them."""
    ports = [("clk", "input", 1), ("rst", "input", 1)]
    for path, member in array_signature(config).members.flatten():
        if member.is_port:
            ports.append(("__".join(map(str, path)), "input" if member.flow.name == "In" else "output",
                          Shape.cast(member.shape).width))
    return ports
