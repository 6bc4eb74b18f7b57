"""What the hardware generators read from the platform they are elaborated for, and each FPGA
family's default clock targets (the one table the builds, the sweeps and the command line read)."""

__all__ = ["family", "BUILD_TARGET_MHZ", "SWEEP_TARGET_MHZ", "family_mhz"]

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
