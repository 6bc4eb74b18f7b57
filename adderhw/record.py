"""The machine-readable record of a generated array: what ``adderhw verilog`` writes beside the ``.v``.

Like Gemmini's ``gemmini_params.h`` (written from its one config), the record carries everything a
tool or a person wiring the Verilog into a design needs, from the same ``ArrayConfig``:

* ``config``: the fields of the ArrayConfig (``mul_stages`` only for a MAC array, ``sad_stage``
  only for a SAD array whose first stage is not "difference");
* ``derived``: accumulator width and signedness, PE latency, and G (the cycle model's drain gap);
* ``ports``: every top-level port with direction and width, from the array's signature (what
  Amaranth's ``Component.metadata`` is built from; read from the signature, no component is
  created and left unelaborated, which Amaranth would warn about at exit);
* ``payloads``: the bit layout of each stream payload: which lane sits in which bits (lane i of
  ``i_filter`` is bits [i·width, (i+1)·width), and so on), signedness included;
* ``generator``: ``adderhw`` and its version; ``top``: the Verilog module name.
"""
from amaranth.hdl import Shape
from amaranth.lib import data

from adderhw import __version__
from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter
from adderhw.base.words import a_an
from adderhw.golden.cycles import drain_gap
from adderhw.hw.array import act_layout, filter_layout, sum_layout
from adderhw.hw.verilog import port_summary

__all__ = ["config_record", "payload_fields", "check_record_config"]


def payload_fields(layout, prefix=""):
    """The leaf fields of an ``amaranth.lib.data`` layout as dicts (field, lsb, width, signed), LSB first."""
    out = []

    def walk(shape, name, offset):
        if isinstance(shape, data.ArrayLayout):
            elem = shape.elem_shape
            size = Shape.cast(elem).width if not isinstance(elem, data.Layout) else elem.size
            for i in range(shape.length):
                walk(elem, f"{name}[{i}]", offset + i * size)
        elif isinstance(shape, data.Layout):
            for member, field in shape:
                walk(field.shape, f"{name}.{member}" if name else member, offset + field.offset)
        else:
            s = Shape.cast(shape)
            out.append({"field": name, "lsb": offset, "width": s.width, "signed": s.signed})

    walk(layout, prefix, 0)
    return sorted(out, key=lambda f: f["lsb"])


def _ports(config):
    return [{"name": name, "dir": "in" if direction == "input" else "out", "width": width}
            for name, direction, width in port_summary(config)]


def config_record(config, top="adder_array"):
    """The JSON-ready record of ``SystolicArray(config)`` generated as module ``top``."""
    cfg = check_config(config)
    return {
        "generator": "adderhw", "version": __version__, "top": top,
        "config": cfg.record_fields(),
        "derived": {"pes": cfg.pes, "acc_width": cfg.acc_width, "acc_signed": cfg.acc_signed,
                    "pe_stages": cfg.pe_stages, "drain_gap": drain_gap(cfg)},
        "ports": _ports(cfg),
        "payloads": {"i_filter": payload_fields(filter_layout(cfg), "lane"),
                     "i_act": payload_fields(act_layout(cfg)),
                     "o_sum": payload_fields(sum_layout(cfg))},
    }


def check_record_config(doc, option, expect):
    """Raise unless the build report ``doc`` (from ``adderhw build``) describes the array ``expect``
    (an ArrayConfig; rows, cols, width and pe are compared)."""
    got = doc.get("config") or {}
    for name in ("pe", "rows", "cols", "width"):
        if got.get(name) != getattr(expect, name):
            raise BadParameter(
                f"{option} describes {a_an(got.get('rows', 0))} {got.get('rows')}x{got.get('cols')} "
                f"{str(got.get('pe')).upper()} array at {got.get('width')} bits, but the compared design is "
                f"{a_an(expect.rows)} {expect.rows}x{expect.cols} "
                f"{expect.pe.upper()} array at {expect.width} bits")
