"""What the hardware generators read from the platform they are elaborated for, and each FPGA
family's default clock targets (the one table the builds, the sweeps and the command line read)."""

__all__ = ["family", "spram_blocks", "SPRAM_BLOCKS", "BUILD_TARGET_MHZ", "SWEEP_TARGET_MHZ", "family_mhz"]

#: the single-port RAM blocks (SB_SPRAM256KA, 16K words of 16 bits each, 256 kbit) per device; the
#: iCE40 UltraPlus has four, and no other device the boards use has any (the iCE40-HX8K has none)
SPRAM_BLOCKS = {"iCE40UP5K": 4}
#: a family's default timing target for one array build (``adderhw build``), in MHz
BUILD_TARGET_MHZ = {"ice40": 48.0, "ecp5": 100.0}
#: a family's default clock for the sweeps ("the largest arrays that meet the clock") and the Fmax
#: benchmark, in MHz: lower than the build's on the iCE40; the committed sweeps were made with these
SWEEP_TARGET_MHZ = {"ice40": 40.0, "ecp5": 100.0}


def family_mhz(table):
    """``table``'s targets in words for help strings: "48 on iCE40, 100 on ECP5"."""
    return ", ".join(f"{mhz:g} on {family.replace('ice40', 'iCE40').replace('ecp5', 'ECP5')}"
                     for family, mhz in table.items())


def family(platform):
    """The FPGA family of ``platform`` in lower case ("ice40", "ecp5", ...), or "" when there is
    none (simulation, generic Verilog) or it names no family (a stand-in platform)."""
    return str(getattr(platform, "family", "")).lower()


def spram_blocks(platform):
    """How many SB_SPRAM256KA blocks the device of ``platform`` has: 4 on the iCE40UP5K, 0 on every
    other device and without a platform (simulation, generic Verilog)."""
    return SPRAM_BLOCKS.get(str(getattr(platform, "device", "")), 0)
