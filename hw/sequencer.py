"""``Sequencer``: runs a compiled program layer by layer.

For layer i it reads the descriptor's fields from the descriptor table (one field per cycle, slot
``i·DESC_SLOTS + f``) into a register each, of the low bits the engine keeps
(``EngineConfig.field_widths``; hw.descriptor), pulses ``o_start`` for the address generator and the
post-processing, and waits for the post-processing's ``i_layer_done``; after the layer whose
``last`` flag is set it raises ``o_done`` (held until the next ``i_start``). Layer i reads
activation buffer i mod 2 and writes the other (``o_side`` = i mod 2); on an engine built with
``residual`` the descriptor's ``bufs`` names them instead (hw.engine reads it).

Timing per layer: F + 2 cycles (``EngineConfig.fetch_cycles``) to fetch the F fields (a synchronous
read, and a register for the word read: no path runs from the table's block RAM through logic, its
clock-to-output is 5.8 ns on the ECP5, and the word minus one into the loop bounds was the ECP5 8x16
engine's critical path, 10.8 ns), one cycle for ``o_start``, then the layer itself; ``o_cycles`` counts every cycle from the one
after ``i_start`` to the one that raises ``o_done`` (golden.engine_cycles models it exactly).

Members
-------
i_start : In(1)            run the program from layer 0 (ignored while busy)
o_busy, o_done : Out(1)
o_desc : Out(descriptor_layout)    the current layer's descriptor (its loop bounds less one)
o_start : Out(1)           one-cycle pulse: the current layer begins
o_side : Out(1)            the buffer the current layer reads
o_layer : Out(6)           the current layer's index
i_layer_done : In(1)       the post-processing wrote the layer's last output
o_table_addr : Out, i_table_data : In(field_bits)   the descriptor table's read port
o_cycles : Out(32)
"""
from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from adderhw.base.engine import DESCRIPTOR_FIELDS, FETCH_CYCLES, RESIDUAL_FIELDS
from adderhw.base.protocol import DESC_SLOTS

from .descriptor import BOUND_FIELDS, descriptor_layout, is_last, registered_name

__all__ = ["Sequencer", "DESC_SLOTS", "FETCH_CYCLES"]

SLOT_BITS = DESC_SLOTS.bit_length() - 1
# a table address is {layer, field}
# (the fetch's counter runs two past the last field: its address stays inside the layer's slots)
assert 1 << SLOT_BITS == DESC_SLOTS and len(DESCRIPTOR_FIELDS) + len(RESIDUAL_FIELDS) + 1 < DESC_SLOTS


class Sequencer(wiring.Component):
    def __init__(self, engine):
        self.engine = engine
        super().__init__({
            "i_start": In(1), "o_busy": Out(1), "o_done": Out(1),
            "o_desc": Out(descriptor_layout(engine)), "o_start": Out(1), "o_side": Out(1), "o_layer": Out(6),
            "i_layer_done": In(1),
            "o_table_addr": Out(ceil_log2(engine.max_layers * DESC_SLOTS)),
            "i_table_data": In(engine.field_bits),
            "o_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        widths = self.engine.field_widths
        F = len(widths)
        layer = Signal(6)
        field = Signal(range(F + 2))
        word = Signal.like(self.i_table_data, name="table_word")     # the word read, registered
        desc = Signal.like(self.o_desc, name="desc")
        m.d.comb += [self.o_desc.eq(desc), self.o_layer.eq(layer), self.o_side.eq(layer[0]),
                     # slot (layer, field) is layer·32 + field: bits side by side, no multiplier
                     self.o_table_addr.eq(Cat(field, Const(0, SLOT_BITS - len(field)), layer))]
        with m.If(self.o_busy):
            m.d.sync += self.o_cycles.eq(self.o_cycles + 1)
        # o_start is a register, high exactly in START: decoded from the state it drove the address
        # generator's loads and flags (the iCE40 engine's critical path, 24.6 ns)
        start = Signal(name="start")
        m.d.sync += start.eq(0)
        m.d.comb += self.o_start.eq(start)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.i_start):
                    m.d.sync += [layer.eq(0), field.eq(0), self.o_cycles.eq(0), self.o_done.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += self.o_busy.eq(1)
                # the field addressed two cycles ago is in ``word`` now: its register keeps the low
                # bits the engine uses (EngineConfig.field_widths; a register with an enable, no
                # logic), a loop bound less one (hw.descriptor.BOUND_FIELDS; Yosys merges the six
                # identical subtractors into one. Through a combinational signal of its own, the
                # subtraction made Icarus loop forever at time 0 in the engine's Verilog)
                m.d.sync += word.eq(self.i_table_data)
                with m.Switch(field):
                    for f, (name, bits) in enumerate(widths.items()):
                        with m.Case(f + 2):
                            value = (word - 1) if name in BOUND_FIELDS else word
                            m.d.sync += desc[registered_name(name)].eq(value[:bits])
                m.d.sync += field.eq(field + 1)
                with m.If(field == F + 1):
                    m.d.sync += start.eq(1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.o_busy.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.o_busy.eq(1)
                with m.If(self.i_layer_done):
                    with m.If(is_last(self.o_desc)):
                        m.d.sync += self.o_done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [layer.eq(layer + 1), field.eq(0)]
                        m.next = "FETCH"
        return m
