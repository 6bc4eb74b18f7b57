"""``LoopCounter``: a loop counter with a registered end flag, for the engine's address generator
and post-processing.

The counter counts 0, 1, .., ``bound_m1`` (a register: the loop's bound less one, as hw.sequencer
registers the descriptor's bounds). ``end`` is a flip-flop, high exactly while the counter equals
``bound_m1``: it is set from the counter's next value in the cycle the counter steps or restarts, so
a loop's end condition is an AND of flip-flops rather than a chain of comparators in front of every
counter's enable (on the iCE40 such chains were the engine's critical paths, 25-31 ns). Both are
``reset_less``: the user restarts the counter (``restart``) before it counts, and on the iCE40 a
synchronous reset acts only through a flip-flop's enable, so a reset would join the enable's logic.

Widths: ``value`` is ``width`` bits; ``bound_m1`` may be any width up to it. Latency: ``value`` and
``end`` change one cycle after ``step`` or ``restart`` is issued, together.
"""
from amaranth.hdl import Signal

__all__ = ["LoopCounter"]


class LoopCounter:
    def __init__(self, width, bound_m1, name):
        self.value = Signal(width, name=name, reset_less=True)
        self.end = Signal(name=f"{name}_end", reset_less=True)
        self.bound_m1 = bound_m1

    def step(self, m):
        """value + 1, in a cycle it is not at its end (the caller's condition), and its flag"""
        m.d.sync += [self.value.eq(self.value + 1), self.end.eq(self.value + 1 == self.bound_m1)]

    def restart(self, m):
        """value 0, and its flag (a loop of one)"""
        m.d.sync += [self.value.eq(0), self.end.eq(self.bound_m1 == 0)]
