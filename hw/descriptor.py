"""The layer descriptor as the engine's hardware sees it: a ``data.StructLayout`` of the fields of
``EngineConfig.descriptor_fields`` (``adderhw.base.engine.DESCRIPTOR_FIELDS``, and on an engine built
with ``residual`` RESIDUAL_FIELDS; what each field means is documented there and in
``golden.program.descriptor``, which computes them).

The descriptor table holds every field in ``EngineConfig.field_bits`` bits; the hardware keeps the
low ``EngineConfig.field_widths[name]`` bits of each (what the engine's depths bound; the address
steps of ``ADDRESS_FIELDS`` modulo the activation buffer's depth), two's complement for the fields
in ``SIGNED_FIELDS``. The loop bounds (:data:`BOUND_FIELDS`: kernel, cin, t_tiles, out_w, out_h,
t_beats) are registered less one, as ``<name>_m1``: the address generator's and the
post-processing's counters compare with them, and those fields have no other use, so one subtractor
in the sequencer's fetch takes the place of a register and a subtractor per bound in each of them
(:func:`as_registered` gives the same values from a descriptor dict). The helpers below decode the
bits of ``flags`` and ``bufs``.
"""
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from adderhw.base.engine import SIGNED_FIELDS

__all__ = ["descriptor_layout", "registered_name", "as_registered", "BOUND_FIELDS", "is_mul", "has_relu", "pool_kind", "is_last", "is_residual", "buffers",
           "POOL_NONE", "POOL_MAX2", "POOL_GAP"]

POOL_NONE, POOL_MAX2, POOL_GAP = 0, 1, 2


#: the fields the hardware keeps less one (every one of them is at least 1 in a valid program)
BOUND_FIELDS = ("kernel", "cin", "t_tiles", "out_w", "out_h", "t_beats")


def registered_name(name):
    """The name of descriptor field ``name`` in :func:`descriptor_layout`."""
    return f"{name}_m1" if name in BOUND_FIELDS else name


def descriptor_layout(engine):
    """The descriptor as registered by hw.sequencer: each field its ``field_widths`` bits, the
    BOUND_FIELDS less one."""
    return data.StructLayout({registered_name(name): (signed(bits) if name in SIGNED_FIELDS else unsigned(bits))
                              for name, bits in engine.field_widths.items()})


def as_registered(desc):
    """A descriptor dict (golden.program.descriptor) as hw.sequencer registers it: the BOUND_FIELDS
    less one, under their registered names (for a testbench that drives ``i_desc`` itself)."""
    return {registered_name(name): value - 1 if name in BOUND_FIELDS else value for name, value in desc.items()}


def is_mul(desc):
    return desc.flags[0]


def has_relu(desc):
    return desc.flags[1]


def pool_kind(desc):
    return desc.flags[2:4]


def is_last(desc):
    return desc.flags[4]


def is_residual(desc):
    """The step is a residual add (flags bit 5; only on an engine built with ``residual``)."""
    return desc.flags[5]


def buffers(desc):
    """(read, write, skip): the activation buffers of a step (the ``bufs`` field of an engine built
    with ``residual``)."""
    return desc.bufs[0:2], desc.bufs[2:4], desc.bufs[4:6]
