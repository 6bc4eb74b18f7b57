"""Arithmetic energy estimate from M. Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, Figure 1.1.9: energy per operation in 45 nm at 0.9 V.

    8-bit integer:  add 0.03 pJ, multiply 0.2 pJ
    32-bit integer: add 0.1 pJ,  multiply 3.1 pJ

This is an ESTIMATE of the arithmetic alone: no memory, wires, registers or control. A SAD term is
a subtraction at the operand width plus an accumulation (an add at accumulator width); a MAC term
is a multiplication at the operand width plus an accumulation. Operand widths up to 8 bits use the
8-bit numbers and wider ones the 32-bit numbers; accumulators (wider than 8 bits) use the 32-bit add.
"""
from adderhw.base.pe_kind import pe_kind

__all__ = ["HOROWITZ_45NM_PJ", "term_energy_pj"]

#: pJ per operation, Horowitz ISSCC 2014 (45 nm)
HOROWITZ_45NM_PJ = {("add", 8): 0.03, ("mul", 8): 0.2, ("add", 32): 0.1, ("mul", 32): 3.1}


def term_energy_pj(pe, width):
    """Estimated pJ of one SAD or MAC term at the given operand width."""
    w = 8 if width <= 8 else 32
    first = HOROWITZ_45NM_PJ[(pe_kind(pe).op, w)]
    return first + HOROWITZ_45NM_PJ[("add", 32)]
