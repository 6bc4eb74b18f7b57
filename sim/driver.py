"""The per-cycle stream driver shared by every simulator backend.

A backend supplies the clocking and signal access; this class decides, cycle by cycle, what
to offer on the two input streams and whether the output is ready, following the stream rules:
a beat, once offered (valid = 1), stays with the same payload until it is accepted.
It records accepted output beats and the cycle count, and checks the stream rules on all three
streams with :class:`~adderhw.sim.monitor.StreamMonitor` (its own offers, and the array's output).

Cycle count: cycles from the first cycle (cycle 0, when the first beats are offered if no stall
holds them) through the cycle in which the last output beat is accepted, inclusive.
"""
from adderhw.base.errors import SimulationError

from .monitor import StreamMonitor

__all__ = ["StreamDriver", "SimulationHang"]


class SimulationHang(SimulationError):
    """The design made no progress within the cycle limit; the message says how far it got."""


class StreamDriver:
    def __init__(self, beats, n_out, stalls, max_cycles):
        self.beats = beats                # (filter word/lanes, act word/lanes) per beat
        self.n_out = n_out
        self.stalls = stalls
        self.max_cycles = max_cycles
        self.fi = self.ai = 0             # next beat to offer on each stream
        self.f_valid = self.a_valid = False
        self.out = []
        self.cycle = 0
        self.cycles = None
        self.monitors = {name: StreamMonitor(name) for name in ("i_filter", "i_act", "o_sum")}

    @property
    def done(self):
        return len(self.out) >= self.n_out

    def drive(self):
        """Decisions for this cycle: (f_valid, f_payload, a_valid, a_payload, o_ready)."""
        if self.cycle >= self.max_cycles:
            raise SimulationHang(
                f"no progress after {self.cycle} cycles: {len(self.out)} of {self.n_out} output beats, "
                f"{self.fi} and {self.ai} of {len(self.beats)} input beats accepted")
        offer_f, offer_a, ready = self.stalls.cycle()
        if not self.f_valid and self.fi < len(self.beats) and offer_f:
            self.f_valid = True
        if not self.a_valid and self.ai < len(self.beats) and offer_a:
            self.a_valid = True
        f_pay = self.beats[min(self.fi, len(self.beats) - 1)][0]
        a_pay = self.beats[min(self.ai, len(self.beats) - 1)][1]
        self.o_ready = ready
        self._f_pay, self._a_pay = f_pay, a_pay
        return self.f_valid, f_pay, self.a_valid, a_pay, ready

    def observe(self, f_ready, a_ready, o_valid, o_payload, f_wire=None, a_wire=None):
        """What the DUT showed at this cycle's clock edge (``o_payload`` matters only when ``o_valid``).

        ``f_wire``/``a_wire``: (valid, payload) of the input streams as the simulator saw them, for
        the input monitors; by default, what this driver offered."""
        self.monitors["i_filter"].sample(*(f_wire or (self.f_valid, self._f_pay)), ready=f_ready)
        self.monitors["i_act"].sample(*(a_wire or (self.a_valid, self._a_pay)), ready=a_ready)
        self.monitors["o_sum"].sample(o_valid, o_payload, ready=self.o_ready)
        if self.f_valid and f_ready:
            self.fi += 1
            self.f_valid = False
        if self.a_valid and a_ready:
            self.ai += 1
            self.a_valid = False
        if o_valid and self.o_ready:
            self.out.append(o_payload)
            if self.done:
                self.cycles = self.cycle + 1
        self.cycle += 1
