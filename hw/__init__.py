"""Amaranth RTL: the SAD and MAC processing elements, the systolic array, and Verilog generation.

``ArrayConfig`` comes from :mod:`adderhw.base` (re-exported here for convenience)."""
from adderhw.base.config import ArrayConfig, PE_KINDS

from .pe import ProcessingElement, SadPE, MacPE, make_pe
from .array import SystolicArray
from .verilog import generate_verilog, port_summary

__all__ = ["ArrayConfig", "PE_KINDS", "ProcessingElement", "SadPE", "MacPE", "make_pe",
           "SystolicArray", "generate_verilog", "port_summary"]
