"""The processing-element kinds, as objects: what the array, the engine, the golden model and the
reports need to know about a PE, so that none of them asks which PE it holds.

Gemmini keeps its mesh generic over an ``Arithmetic`` (Arithmetic.scala); adderhw's array is
generic over a :class:`PeKind` in the same way. Each layer keeps its own part of a kind in a table
keyed by :attr:`PeKind.name` (the RTL PE class in ``hw.pe.PE_CLASSES``, the golden GEMM in
``golden.gemm.GEMMS``), because ``base`` may not import them. Adding a PE kind means one entry here
and one in each of those tables (docs/tutorials/add-a-pe-kind.md).

Members of a kind
-----------------
name : str
    What configs, the command line and result files say: "sad" or "mac".
label : str
    The PE in tables and plots: "SAD", "MAC".
network : str
    The network that runs on it: "AdderNet", "CNN twin".
code : int
    Its value in the link's STATUS reply (base.protocol.STATUS_FIELDS "pe").
op : str
    The arithmetic of one term, as the energy table names it: "add" (|a - b|) or "mul" (a·b).
has_multiplier : bool
    Whether a PE of this kind multiplies (mul_stages applies; DSP blocks may serve it).
acc_signed : bool
    Whether its accumulator is signed (a sum of |a - b| is not).
output_sign : int
    The sign a layer's output takes from the accumulated sum: -1 for an adder layer (Y = -SAD,
    Chen et al., CVPR 2020, eq. 2), +1 for a convolution.
product_scale : int
    How many times a term's scale exponent holds the operands' one: 1 for |a - b| (same scale
    as a and b), 2 for a·b (frac bits add).
"""
from dataclasses import dataclass

from .errors import BadParameter
from .widths import mac_acc_width, sad_acc_width

__all__ = ["PeKind", "SAD", "MAC", "PE_KIND_TABLE", "PE_KINDS", "pe_kind"]


@dataclass(frozen=True)
class PeKind:
    name: str
    label: str
    network: str
    code: int
    op: str
    has_multiplier: bool
    acc_signed: bool
    output_sign: int
    product_scale: int

    def acc_width(self, width, k_max):
        """Accumulator bits for ``k_max`` terms of ``width``-bit operands: the worst case, so that
        no sum can overflow (base.widths)."""
        return (mac_acc_width if self.has_multiplier else sad_acc_width)(width, k_max)

    def term_bounds(self, width):
        """(smallest, largest) value of one term on signed ``width``-bit operands: |a - b| lies in
        [0, 2^w - 1]; a·b in [-2^(w-1)·(2^(w-1) - 1), 2^(2w-2)] (the largest is (-2^(w-1))²)."""
        half = 1 << (width - 1)
        if self.has_multiplier:
            return -half * (half - 1), half * half
        return 0, 2 * half - 1

    def __str__(self):
        return self.name


SAD = PeKind(name="sad", label="SAD", network="AdderNet", code=0, op="add", has_multiplier=False,
             acc_signed=False, output_sign=-1, product_scale=1)
MAC = PeKind(name="mac", label="MAC", network="CNN twin", code=1, op="mul", has_multiplier=True,
             acc_signed=True, output_sign=1, product_scale=2)

#: every PE kind by name, in the order the comparisons show them (the AdderNet first)
PE_KIND_TABLE = {k.name: k for k in (SAD, MAC)}
#: their names, for choices and checks
PE_KINDS = tuple(PE_KIND_TABLE)


def pe_kind(name, what="pe"):
    """The PeKind called ``name`` (a PeKind is returned as it is); else a BadParameter naming
    ``what``, the value and the kinds there are."""
    if isinstance(name, PeKind):
        return name
    try:
        return PE_KIND_TABLE[name]
    except (KeyError, TypeError):
        raise BadParameter(f"{what} must be one of {', '.join(map(repr, PE_KINDS))}, not {name!r}") from None
