"""``LoopCounter``: a loop counter with a registered end flag, for the engine's address generator
and post-processing.

The counter counts 0, 1, .., ``bound_m1`` (a register: the loop's bound less one, as hw.sequencer
registers the descriptor's bounds). ``end`` is a flip-flop, high exactly while the counter equals
``bound_m1``: it is set from the counter's next value in the cycle the counter steps or restarts, so
a loop's end condition is an AND of flip-flops rather than a chain of comparators in front of every
counter's enable (on the iCE40 such chains were the engine's critical paths, 25-31 ns). Both are
``reset_less``: the user restarts the counter (``restart``) before it counts, and on the iCE40 a
synchronous reset acts only through a flip-flop's enable, so a reset would join the enable's logic.

The flag's next value has no adder in front of it:

* counting up, a step sets it from ``value == bound_m2``, where ``bound_m2`` is a register that
  holds ``bound_m1 − 1`` (written every cycle; ``bound_m1`` must hold its value from the cycle of
  ``restart`` on, as the descriptor does while a layer runs, and a step comes at the earliest in the
  cycle after it);
* counting down (``down=True``, for a loop whose index nothing reads, only its end), ``value``
  counts the steps left, ``bound_m1`` down to 0, and a step sets the flag from ``value == 1``;
* a restart sets it from "``bound_m1`` has no bit set", which is not an equality, so Yosys's
  ``opt_share`` does not merge it with the step's comparison into one comparator behind a
  multiplexer that the flag itself selects. (Counting up with ``value + 1 == bound_m1``, and the
  two comparisons merged, the post-processing's channel counter's flag went through a carry chain
  back into itself: the iCE40 8x2 engine's critical path, 27.7 ns.)

Widths: ``value`` is ``width`` bits; ``bound_m1`` may be any width up to it; counting up,
``bound_m2`` costs ``width`` flip-flops. Latency: ``value`` and ``end`` change one cycle after
``step`` or ``restart`` is issued, together.
"""
from amaranth.hdl import Signal

__all__ = ["LoopCounter"]


class LoopCounter:
    def __init__(self, m, width, bound_m1, name, down=False):
        self.value = Signal(width, name=name, reset_less=True)
        self.end = Signal(name=f"{name}_end", reset_less=True)
        self.bound_m1 = bound_m1
        self.down = down
        if not down:
            self.bound_m2 = Signal(width, name=f"{name}_bound_m2", reset_less=True)
            m.d.sync += self.bound_m2.eq(bound_m1 - 1)

    def step(self, m):
        """the next index (value + 1, or value − 1 counting down), in a cycle it is not at its end
        (the caller's condition), and its flag"""
        if self.down:
            m.d.sync += [self.value.eq(self.value - 1), self.end.eq(self.value == 1)]
        else:
            m.d.sync += [self.value.eq(self.value + 1), self.end.eq(self.value == self.bound_m2)]

    def restart(self, m):
        """the first index (0, or bound_m1 counting down), and its flag (a loop of one)"""
        m.d.sync += [self.value.eq(self.bound_m1 if self.down else 0), self.end.eq(~self.bound_m1.any())]
