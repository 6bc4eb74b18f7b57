"""Waveform files: the format follows the file's name, and every backend says what it can write.

* ``.vcd``: Value Change Dump, text, read by every viewer; all three backends write it.
* ``.fst``: GTKWave's compressed binary format, much smaller for long runs; Icarus (``-fst``) and
  Verilator (``--trace-fst``) write it natively. Amaranth's simulator writes VCD only, so a
  ``.fst`` name there is refused rather than filled with VCD text that a viewer would then
  reject as a broken FST.

The check runs before anything is built or simulated, so a bad name costs nothing.
"""
from pathlib import Path

from adderhw.base.errors import BadParameter
from adderhw.base.paths import check_output_file

__all__ = ["WAVE_FORMATS", "waves_format"]

#: file suffix -> format, and the backends that write each format
WAVE_FORMATS = {".vcd": "vcd", ".fst": "fst"}
_WRITERS = {"vcd": ("amaranth", "icarus", "verilator"), "fst": ("icarus", "verilator")}


def waves_format(waves, backend, option="waves"):
    """``"vcd"``, ``"fst"`` or None (no waves) for the file ``waves`` written by ``backend``;
    ``option`` is the parameter's name in the error messages."""
    if waves is None:
        return None
    check_output_file(option, waves)
    suffix = Path(waves).suffix.lower()
    fmt = WAVE_FORMATS.get(suffix)
    if fmt is None:
        raise BadParameter(f"{option} must name a .vcd or .fst file, not {str(waves)!r}")
    if backend not in _WRITERS[fmt]:
        raise BadParameter(f"{option} names {str(waves)!r}, but {backend}'s simulator writes VCD only; "
                           f"name a .vcd file")
    return fmt
