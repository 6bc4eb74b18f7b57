"""``StreamMonitor``: checks the ``amaranth.lib.stream`` rules on one stream, cycle by cycle.

The rules (the same ones Amaranth's stream interfaces and AXI-Stream state): once a source raises
``valid``, it keeps ``valid`` high and the payload unchanged until the sink's ``ready`` accepts the
beat. The monitor is fed one sample per clock edge (valid, ready, payload) and raises
:class:`StreamRuleViolation` at the first cycle that breaks a rule. Every simulator backend runs
monitors on all three of the array's streams: on the inputs they check the driver, on ``o_sum`` the
array (the HDL harness of the Verilog backends has the same check written in Verilog).
"""
from adderhw.base.errors import SimulationError

__all__ = ["StreamMonitor", "StreamRuleViolation"]


class StreamRuleViolation(SimulationError):
    """A stream source withdrew ``valid`` or changed its payload before the beat was accepted."""


class StreamMonitor:
    def __init__(self, name):
        self.name = name
        self.cycle = 0
        self._pending = None              # (cycle offered, payload) of a beat not yet accepted

    def sample(self, valid, payload, *, ready):
        """One clock edge's view of the stream (``payload`` need only be meaningful when ``valid``)."""
        if self._pending is not None:
            since, held = self._pending
            if not valid:
                raise StreamRuleViolation(
                    f"{self.name}: valid was withdrawn at cycle {self.cycle} before the beat offered at cycle "
                    f"{since} was accepted")
            if payload != held:
                raise StreamRuleViolation(
                    f"{self.name}: the payload changed at cycle {self.cycle} before the beat offered at cycle "
                    f"{since} was accepted")
            if ready:
                self._pending = None
        elif valid and not ready:
            self._pending = (self.cycle, payload)
        self.cycle += 1
