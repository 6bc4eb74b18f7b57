"""The layer descriptor as the engine's hardware sees it: a ``data.StructLayout`` of the fields of
``EngineConfig.descriptor_fields`` (``adderhw.base.engine.DESCRIPTOR_FIELDS``, and on an engine built
with ``residual`` RESIDUAL_FIELDS; what each field means is documented there and in
``golden.program.descriptor``, which computes them).

The descriptor table holds every field in ``EngineConfig.field_bits`` bits; the hardware keeps the
low ``EngineConfig.field_widths[name]`` bits of each (what the engine's depths bound; the address
steps of ``ADDRESS_FIELDS`` modulo the activation buffer's depth), two's complement for the fields
in ``SIGNED_FIELDS``. The helpers below decode the bits of ``flags`` and ``bufs``.
"""
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from adderhw.base.engine import SIGNED_FIELDS

__all__ = ["descriptor_layout", "is_mul", "has_relu", "pool_kind", "is_last", "is_residual", "buffers",
           "POOL_NONE", "POOL_MAX2", "POOL_GAP"]

POOL_NONE, POOL_MAX2, POOL_GAP = 0, 1, 2


def descriptor_layout(engine):
    """The descriptor as registered by hw.sequencer: each field its ``field_widths`` bits."""
    return data.StructLayout({name: (signed(bits) if name in SIGNED_FIELDS else unsigned(bits))
                              for name, bits in engine.field_widths.items()})


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
