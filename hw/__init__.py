"""Amaranth RTL: the array config, the SAD and MAC processing elements, the systolic array,
and Verilog generation."""
from golden.config import ArrayConfig, PE_KINDS

from .pe import ProcessingElement, SadPE, MacPE, make_pe
from .array import SystolicArray
from .verilog import generate_verilog, port_summary

__all__ = ["ArrayConfig", "PE_KINDS", "ProcessingElement", "SadPE", "MacPE", "make_pe",
           "SystolicArray", "generate_verilog", "port_summary"]
