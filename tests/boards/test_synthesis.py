"""The one Yosys recipe (boards.synthesis): the exact scripts the builds have always used, so that
a finished build's design key (its reuse record) stays the same."""
import pytest

from adderhw.boards.synthesis import synthesis_recipe

KEEP = "proc\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"


@pytest.mark.parametrize("args, opts, script", [
    # the array's benchmark top: a SAD array has no multiplier, whatever dsp says
    (("ice40", False, True), [], KEEP),
    (("ecp5", False, False), [], KEEP),
    # a MAC array: DSP blocks or not, Booth for the ones in logic
    (("ice40", True, True), ["-dsp"], KEEP),
    (("ice40", True, False, True), [], KEEP + "\nbooth"),
    (("ecp5", True, True), [], KEEP),
    (("ecp5", True, False, True), ["-nodsp"], KEEP + "\nbooth"),
    (("ecp5", True, False, False), ["-nodsp"], KEEP),
    # the engine top with its per-block breakdown
    (("ice40", True, False, True, True), ["-noflatten"], "proc\nsplitnets\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"
                                                          "\nbooth"),
    (("ecp5", True, True, False, True), ["-noflatten"], "proc\nsplitnets\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"),
    # the engine top: its memories' reads of an address written in the same cycle are don't-cares
    (("ecp5", True, True, False, False, True), [], KEEP + "\nsetparam -set COLLISION_X_MASK 1'b1 t:$memrd_v2 r:CLK_ENABLE=1 %i"),
    # on the iCE40 also: a memory asking for SB_SPRAM256KA loses Amaranth's all-zero initial value
    (("ice40", True, False, True, True, True), ["-noflatten"],
     "proc\nsplitnets\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"
     "\nsetparam -set COLLISION_X_MASK 1'b1 t:$memrd_v2 r:CLK_ENABLE=1 %i"
     "\nmemory_collect a:ram_style=huge\nsetparam -set INIT 1'bx t:$mem_v2 a:ram_style=huge %i\nbooth"),
])
def test_the_recipe_of_each_kind_of_build(args, opts, script):
    assert synthesis_recipe(*args) == (opts, script)
