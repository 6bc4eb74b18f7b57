"""Deliberate design bugs that show the formal proofs (and the regressions) can fail.

``adderhw prove --mutate NAME`` (``hw.array_spec``) must report FAIL with a counterexample for
each of these; a proof that passed on a broken design would prove nothing. A mutation is always
asked for explicitly, never read from the process environment:

* ``SystolicArray(config, mutation=NAME)`` builds the broken array; ``ArraySpec(config, groups,
  mutation=NAME)`` and ``adderhw.prove.prove(..., mutation=NAME)`` wrap it.
* ``with mutated(NAME): ...`` builds every ``SystolicArray`` made inside the block without a
  ``mutation`` argument broken: it reaches arrays that code between the caller and the array
  builds (``run_gemm`` and its simulators, ``generate_verilog``). ``adderhw regress --mutate NAME``
  runs each case inside such a block.

The array hands its mutation to the PEs and the drain it builds; each hook in the RTL is one
``if fires(self.mutation, ...)`` around a single changed expression, marked ``# MUTATION``. With no
mutation no hook fires and the generated Verilog is byte-identical to the design without hooks
(``tests/hw/test_mutation.py``).

Mutations (:data:`MUTATIONS`):
  * ``acc-short``: the PE's running sum is one bit narrower than ``config.acc_width``, so a tile
    whose sum needs the top bit wraps (``hw.pe``).
  * ``drain-skips-row``: when a tile's drain starts, the column chains shift once without pushing,
    so row 0 is skipped and the rows arrive one place early (``hw.drain``).
  * ``ready-ignores-backpressure``: the inputs' ``ready`` ignores a pending drain, so a tile's
    last beat is accepted while the previous tile is still in the result registers (``hw.array``).
"""
from contextlib import contextmanager
from contextvars import ContextVar

from adderhw.base.errors import BadParameter

__all__ = ["MUTATIONS", "check_mutation", "fires", "mutated", "current_mutation"]

MUTATIONS = ("acc-short", "drain-skips-row", "ready-ignores-backpressure")

# the mutation of the innermost ``mutated`` block; a context variable, not a plain global, so
# that a block in one thread (or asyncio task) does not leak into arrays built by another
_current = ContextVar("adderhw_mutation", default=None)


def check_mutation(name):
    """``name`` if it is one of :data:`MUTATIONS`, None for None or ""; else :class:`BadParameter`."""
    if name is None or name == "":
        return None
    if name not in MUTATIONS:
        raise BadParameter(f"mutation must be one of {', '.join(MUTATIONS)}, not {name!r}")
    return name


def fires(active, name):
    """True when ``active`` (a component's mutation, or None) is the hook's mutation ``name``.

    ``name`` must be one of :data:`MUTATIONS`, so that a misspelt hook fails loudly instead of
    never firing."""
    assert name in MUTATIONS, name
    return active == name


@contextmanager
def mutated(name):
    """Within the block, a ``SystolicArray`` built without a ``mutation`` argument carries
    ``name`` (None or "": no mutation). Refuses an unknown name before the block runs."""
    token = _current.set(check_mutation(name))
    try:
        yield
    finally:
        _current.reset(token)


def current_mutation():
    """The mutation of the innermost :func:`mutated` block, or None outside every block."""
    return _current.get()
