"""Simulation of the generated hardware: the same ``run_gemm`` call on Amaranth's simulator,
Icarus Verilog and Verilator (through cocotb), checked against the golden model."""
from .gemm import run_gemm, BACKENDS
from .layer import run_layer
from .plan import GemmPlan

__all__ = ["run_gemm", "run_layer", "BACKENDS", "GemmPlan"]
