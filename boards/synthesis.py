"""The one Yosys recipe of every board build (the array's benchmark top and the engine top): the
``synth_opts`` and the script run after reading the design, from what the design needs.

* Registers the design replicates on purpose (the drain's per-column shift enables) carry a
  ``keep`` attribute on their wire; Yosys's opt_merge would otherwise merge the identical copies
  back into one register driving the whole array. A keep on the flip-flop cell stops it.
* ``hierarchy``: the hierarchy is kept through place and route (``-noflatten``, and ``splitnets``
  so that per-block figures are a statistic of the very netlist that was placed; boards.breakdown).
* ``memories`` (the engine top): every memory read port returns a don't-care value when it reads the address a write port writes
  in the same cycle (``COLLISION_X_MASK`` set on each ``$memrd_v2``; :data:`NO_RW_COLLISION`).
  Amaranth asks for the old value there, which neither the iCE40's nor the ECP5's block RAM
  promises, so Yosys built it in logic beside every block RAM: a register of the write data and
  address, a comparator and a multiplexer per read bit (on the iCE40 1x1 digits engine about 150
  flip-flops and 250 LUT4s). The designs built here never use such a read (hw.engine, "Memories":
  the post-processing reads a destination three cycles before a write to another address, and
  the memories the host loads are read only while the engine runs, or for data that is not used),
  so the value is a don't-care for them. Every memory has one write port, so the mask is one bit.
  (The array's benchmark top keeps the script it always had: its skew ring, hw.skew, is a memory
  too, and a changed script would change every finished build's design key.)
* ``memories`` on the iCE40: a memory that asks for the UltraPlus's single-port RAM (``ram_style =
  "huge"``; hw.engine's weight buffer when it fits) loses its initial value (:data:`NO_INIT_HUGE`).
  Amaranth gives every memory one, all zeros by default, and the SB_SPRAM256KA has none (its
  contents are undefined at power-up; Yosys's ``share/ice40/spram.txt`` declares no ``init``), so
  Yosys's memory_libmap finds no mapping for it ("no valid mapping found for memory"). The engine
  writes the weights before it reads them. The step collects that memory into its ``$mem_v2``
  cell early to set the cell's ``INIT`` to undefined; no other memory is touched, and without such
  a memory the step selects nothing and changes nothing.
* A design with multipliers maps them to DSP blocks or not (``dsp``: iCE40 SB_MAC16 through
  ``synth_ice40 -dsp``; ECP5 MULT18X18D unless ``-nodsp``); ``booth`` maps the ones left in logic
  with Yosys's Booth multiplier (its ``$mul`` cells exist only after ``proc``).
"""
__all__ = ["synthesis_recipe", "KEEP_REPLICATED", "NO_RW_COLLISION", "NO_INIT_HUGE"]

KEEP_REPLICATED = "proc\nsetattr -set keep 1 a:keep %ci1 t:$dff %i"
NO_RW_COLLISION = "setparam -set COLLISION_X_MASK 1'b1 t:$memrd_v2 r:CLK_ENABLE=1 %i"
NO_INIT_HUGE = "memory_collect a:ram_style=huge\nsetparam -set INIT 1'bx t:$mem_v2 a:ram_style=huge %i"


def synthesis_recipe(family, multipliers, dsp, booth=False, hierarchy=False, memories=False):
    """(synth_opts, script_after_read) for a ``family`` ("ice40"/"ecp5") design (module docstring)."""
    opts, script = [], KEEP_REPLICATED + ("\n" + NO_RW_COLLISION if memories else "")
    if memories and family == "ice40":
        script += "\n" + NO_INIT_HUGE          # after NO_RW_COLLISION, which sets $memrd_v2 cells
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
