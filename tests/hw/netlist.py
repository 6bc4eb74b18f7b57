"""A design's netlist after Yosys's ``proc`` (Amaranth's built-in Yosys), for structural tests."""
import collections
import json
import re

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

__all__ = ["netlist_cells", "flip_flop_bits", "net_loads", "netlist_module"]


def _yosys(elaboratable, passes):
    text = rtlil.convert(elaboratable, name="top", emit_src=False)
    return find_yosys(lambda ver: ver >= (0, 40)).run(["-q", "-"], f"read_rtlil <<EOF\n{text}\nEOF\n{passes}\n")


def netlist_cells(elaboratable, passes="proc\nflatten\nopt_clean"):
    """(cell type, parameter and connection lines) of every cell after ``passes``."""
    out = _yosys(elaboratable, f"{passes}\nwrite_rtlil -")
    return re.findall(r"cell (\$\w+) \S+\n((?:\s+(?:parameter|connect) .*\n)+)", out)


def flip_flop_bits(elaboratable):
    """Flip-flop bits of a design after Yosys's ``proc``, by cell width (a memory's read port
    register is part of its ``$memrd`` cell and not counted)."""
    return sum(int(re.search(r"parameter \\WIDTH (\d+)", params).group(1))
               for kind, params in netlist_cells(elaboratable) if "dff" in kind)


def netlist_module(elaboratable, passes="proc\nflatten\nopt_clean"):
    """The flattened top module of Yosys's JSON netlist after ``passes``."""
    return json.loads(_yosys(elaboratable, f"{passes}\nwrite_json -"))["modules"]["top"]


def net_loads(elaboratable, prefix):
    """{net name: cell inputs its bit 0 drives} for the flattened design's nets whose name starts
    with ``prefix`` (after ``proc``, ``flatten`` and ``opt_clean``: a multi-bit cell that reads the
    bit counts once)."""
    module = netlist_module(elaboratable)
    loads = collections.Counter(bit for cell in module["cells"].values()
                                for port, bits in cell["connections"].items()
                                if cell["port_directions"][port] == "input"
                                for bit in set(bits) if isinstance(bit, int))
    return {name: loads[net["bits"][0]] for name, net in module["netnames"].items() if name.startswith(prefix)}
