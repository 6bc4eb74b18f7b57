"""The one Yosys recipe of every board build (the array's benchmark top and the engine top): the
``synth_opts`` and the script run after reading the design, from what the design needs.

* Registers the design replicates on purpose (the drain's per-column shift enables) carry a
  ``keep`` attribute on their wire; Yosys's opt_merge would otherwise merge the identical copies
  back into one register driving the whole array. A keep on the flip-flop cell stops it.
* ``hierarchy``: the hierarchy is kept through place and route (``-noflatten``, and ``splitnets``
  so that per-block figures are a statistic of the very netlist that was placed; boards.breakdown).
* A design with multipliers maps them to DSP blocks or not (``dsp``: iCE40 SB_MAC16 through
  ``synth_ice40 -dsp``; ECP5 MULT18X18D unless ``-nodsp``); ``booth`` maps the ones left in logic
  with Yosys's Booth multiplier (its ``$mul`` cells exist only after ``proc``).
"""
__all__ = ["synthesis_recipe", "KEEP_REPLICATED"]

KEEP_REPLICATED = "proc\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"


def synthesis_recipe(family, multipliers, dsp, booth=False, hierarchy=False):
    """(synth_opts, script_after_read) for a ``family`` ("ice40"/"ecp5") design (module docstring)."""
    opts, script = [], KEEP_REPLICATED
    if hierarchy:
        opts.append("-noflatten")
        script = script.replace("proc", "proc\nsplitnets", 1)
    if multipliers:
        if family == "ice40" and dsp:
            opts.append("-dsp")
        if family == "ecp5" and not dsp:
            opts.append("-nodsp")
        if booth:
            script += "\nbooth"
    return opts, script
