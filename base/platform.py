"""What the hardware generators read from the platform they are elaborated for."""

__all__ = ["family"]


def family(platform):
    """The FPGA family of ``platform`` in lower case ("ice40", "ecp5", ...), or "" when there is
    none (simulation, generic Verilog) or it names no family (a stand-in platform)."""
    return str(getattr(platform, "family", "")).lower()
