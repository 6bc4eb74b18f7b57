"""``poisoned``: a simulation check of the engine's promise that no memory read it uses falls in the
cycle of a write to the same address (hw.engine, "Memories").

Board builds let such a read return a don't-care value (boards.synthesis.NO_RW_COLLISION), while
Amaranth's simulator, and the Verilog it generates, return the old value there, so an ordinary
simulation cannot show that a design relies on it. An engine elaborated with
``poison_collisions`` reads each of its memories through :func:`poisoned`: in the cycle after a
read whose address an enabled write (any of its lanes) wrote in the same cycle, the port's data
comes with every bit inverted, a value that differs from the old one in every bit, so a run whose
outputs stay bit-exact with golden used no such read, at word granularity (whatever lanes one
block RAM holds). The engine counts the poisoned reads, used or not (``o_collisions``), so a test
can see that the check was live. Without ``poison_collisions`` nothing is built and the engine is
the board's.

Latency: none added; the flag is a register beside the port's own read register.
"""
from amaranth.hdl import Mux, Signal, Value

__all__ = ["poisoned"]


def poisoned(m, read, write, shape, enabled, name):
    """(data, hit): the data of the synchronous read port ``read`` (of a memory of ``shape``, written
    through ``write``), and a 1-bit flag that is high in the cycle its data is poisoned; when not
    ``enabled`` (data, None) with the port's data as it is."""
    if not enabled:
        return read.data, None
    hit = Signal(name=f"{name}_collided")
    m.d.sync += hit.eq(read.en & write.en.any() & (read.addr == write.addr))
    out = Signal(shape, name=f"{name}_poisoned")
    raw, bits = Value.cast(read.data), Value.cast(out)
    m.d.comb += bits.eq(Mux(hit, ~raw, raw))
    return out, hit
