"""The layer descriptor as the engine's hardware sees it: a ``data.StructLayout`` of the fields of
``EngineConfig.descriptor_fields`` (``adderhw.base.engine.DESCRIPTOR_FIELDS``, and on an engine built
with ``residual`` RESIDUAL_FIELDS; what each field means is documented there and in
``golden.program.descriptor``, which computes them).

Every field is ``EngineConfig.field_bits`` wide; the fields in ``SIGNED_FIELDS`` are two's
complement. ``flag(desc, name)`` decodes the bits of ``flags``.
"""
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from adderhw.base.engine import SIGNED_FIELDS

__all__ = ["descriptor_layout", "is_mul", "has_relu", "pool_kind", "is_last", "is_residual", "buffers",
           "POOL_NONE", "POOL_MAX2", "POOL_GAP"]

POOL_NONE, POOL_MAX2, POOL_GAP = 0, 1, 2


def descriptor_layout(engine):
    bits = engine.field_bits
    return data.StructLayout({name: (signed(bits) if name in SIGNED_FIELDS else unsigned(bits))
                              for name in engine.descriptor_fields})


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
