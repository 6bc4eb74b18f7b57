"""Verilog generation for the array: deterministic bytes, no absolute paths.

``emit_src=False`` drops the ``(* src = "/abs/path..." *)`` attributes Amaranth would write,
so the same config always gives the same file wherever it is generated. Amaranth converts with the
first Yosys it finds, and a system Yosys (``YOSYS``, or on PATH; the board flows set ``YOSYS`` to
YoWASP's) would change the text; generation therefore uses Amaranth's built-in Yosys unless the
user chose one through ``AMARANTH_USE_YOSYS``.
"""
import contextlib
import os
from amaranth.back import verilog

from golden.errors import AdderhwError

from amaranth.hdl import Shape

from .array import SystolicArray, array_signature

__all__ = ["generate_verilog", "port_summary", "VERILATOR_WAIVERS"]

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
        raise AdderhwError(f"name must be a Verilog identifier (letters, digits, _; not starting with a digit), not {name!r}")
    return name


@contextlib.contextmanager
def _builtin_yosys():
    if "AMARANTH_USE_YOSYS" in os.environ:
        yield
        return
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    try:
        yield
    finally:
        del os.environ["AMARANTH_USE_YOSYS"]


def generate_verilog(config, name="adder_array"):
    """Verilog text of ``SystolicArray(config)`` with top module ``name``."""
    _check_name(name)
    with _builtin_yosys():
        return verilog.convert(SystolicArray(config), name=name, emit_src=False)


def port_summary(config):
    """Top-level ports as (name, direction, width), in the order Amaranth emits them."""
    ports = [("clk", "input", 1), ("rst", "input", 1)]
    for path, member in array_signature(config).members.flatten():
        if member.is_port:
            ports.append(("__".join(map(str, path)), "input" if member.flow.name == "In" else "output",
                          Shape.cast(member.shape).width))
    return ports
