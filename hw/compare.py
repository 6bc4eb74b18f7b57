"""Comparisons with a constant as logic, for blocks whose size matters more than their depth.

``below(value, limit)``: ``value < limit`` for an unsigned Amaranth ``value`` and a Python int
``limit``, without a carry chain (Yosys maps every ``<`` to one, a carry cell per bit, even against
a constant). Used by the host link (hw.link_receiver, hw.link_executor).
"""
from amaranth.hdl import Cat, Const, Value

__all__ = ["below"]


def below(value, limit):
    """``value < limit`` for a constant ``limit``, as logic: ``value`` is below it when, at some bit
    where ``limit`` has a 1, ``value`` has a 0 and matches ``limit`` above. Yosys turns every ``<``
    into a carry chain, a carry cell per bit even against a constant; this needs none."""
    value = Value.cast(value)
    if limit <= 0:
        return Const(0)
    if limit >> len(value):
        return Const(1)
    return Cat(*((value[i + 1:] == limit >> (i + 1)) & ~value[i]
                 for i in range(len(value)) if limit >> i & 1)).any()
