"""Seeded valid/ready stall patterns, identical on every simulator.

Each cycle draws exactly three random numbers, whatever the DUT does, so two simulators
driven by the same seed see the same stall sequence and must report the same cycles.
Output stalls also come in bursts (``burst`` cycles of ready = 0), to hold a finished tile
in the array while the next one computes behind it. A ``script`` gives the decisions cycle by
cycle instead (3-bit words as in :meth:`StallPattern.table`; no stalls after its end), for tests
that need a stall at an exact cycle.
"""
import random

from adderhw.base.errors import BadParameter

__all__ = ["StallPattern"]


class StallPattern:
    """``offer_filter``/``offer_act``: may a new input beat be offered this cycle;
    ``out_ready``: is the output ready this cycle. ``prob`` = 0 means no stalls at all."""

    def __init__(self, prob=0.0, seed=None, burst=(8, 40), script=None):
        self.seed = seed
        self.script = None if script is None else [int(w) & 7 for w in script]
        self._at = 0
        if not 0.0 <= prob < 1.0:
            raise BadParameter(f"stall probability must be at least 0 and below 1, not {prob}")
        self.prob = prob
        self.rng = random.Random(seed)
        self.burst = burst
        self._hold = 0

    @property
    def active(self):
        """Whether any cycle may stall (random stalls or a script)."""
        return self.prob > 0.0 or self.script is not None

    def cycle(self):
        """(offer_filter, offer_act, out_ready) for the next cycle."""
        if self.script is not None:
            w = self.script[self._at] if self._at < len(self.script) else 7
            self._at += 1
            return bool(w & 1), bool(w & 2), bool(w & 4)
        if self.prob == 0.0:
            return True, True, True
        f, x, o = self.rng.random(), self.rng.random(), self.rng.random()
        if self._hold:
            self._hold -= 1
            ready = False
        elif o < self.prob / 8:
            self._hold = self.burst[0] + int(o * 1e6) % (self.burst[1] - self.burst[0])
            ready = False
        else:
            ready = o >= self.prob
        return f >= self.prob, x >= self.prob, ready

    def table(self, n):
        """The first ``n`` cycles' decisions of a fresh pattern with this seed, as 3-bit words:
        bit 0 offer filter, bit 1 offer activation, bit 2 output ready (the HDL harness's form)."""
        fresh = StallPattern(self.prob, self.seed, self.burst, self.script)
        out = []
        for _ in range(n):
            f, x, o = fresh.cycle()
            out.append(int(f) | int(x) << 1 | int(o) << 2)
        return out
