"""Deliberate design bugs, switched on by ``ADDERHW_MUTATE``, that show the formal proofs can fail.

``adderhw prove`` (``hw.array_spec``) must report FAIL with a counterexample for each of these;
a proof that passed on a broken design would prove nothing. The variable is read when a
component is elaborated, and each hook in the RTL is one ``if mutation(...)`` around a single
changed expression, marked ``# MUTATION``. With the variable unset (or empty) no hook fires and
the generated Verilog is byte-identical to the design without hooks (``tests/hw/test_mutation.py``).

Mutations (the value of ``ADDERHW_MUTATE``):
  * ``acc-short``: the PE's running sum is one bit narrower than ``config.acc_width``, so a tile
    whose sum needs the top bit wraps (``hw.pe``).
  * ``drain-skips-row``: when a tile's drain starts, the column chains shift once without pushing,
    so row 0 is skipped and the rows arrive one place early (``hw.drain``).
  * ``ready-ignores-backpressure``: the inputs' ``ready`` ignores a pending drain, so a tile's
    last beat is accepted while the previous tile is still in the result registers (``hw.array``).
"""
import os

from adderhw.base.errors import BadParameter

__all__ = ["MUTATIONS", "ENV_VAR", "mutation", "active_mutation"]

ENV_VAR = "ADDERHW_MUTATE"
MUTATIONS = ("acc-short", "drain-skips-row", "ready-ignores-backpressure")


def active_mutation():
    """The mutation named by ``ADDERHW_MUTATE``, or None when it is unset or empty."""
    name = os.environ.get(ENV_VAR, "")
    if not name:
        return None
    if name not in MUTATIONS:
        raise BadParameter(f"{ENV_VAR} must be one of {', '.join(MUTATIONS)} or unset, not {name!r}")
    return name


def mutation(name):
    """True when ``ADDERHW_MUTATE`` names the mutation ``name`` (one of :data:`MUTATIONS`)."""
    assert name in MUTATIONS, name
    return active_mutation() == name
