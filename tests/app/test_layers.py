"""The layers, held by import-linter ([tool.importlinter] in pyproject.toml).

The installed package maps each top-level folder X to ``adderhw.X`` (pyproject's package-dir), which
an editable install resolves through a finder that grimp, import-linter's graph builder, cannot see
through. So the test copies the sources into a temporary tree in the installed shape and lints that
copy, from inside it, against the project's own contracts.
"""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


def _config():
    return tomllib.loads(PYPROJECT.read_text())


def _installed_shape(dest):
    """Copy adderhw/ and each mapped folder into ``dest/adderhw`` as it is installed."""
    package_dir = _config()["tool"]["setuptools"]["package-dir"]
    shutil.copytree(ROOT / "adderhw", dest / "adderhw", ignore=shutil.ignore_patterns("__pycache__"))
    for package, folder in package_dir.items():
        sub = package.split(".", 1)[1]
        shutil.copytree(ROOT / folder, dest / "adderhw" / sub, ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "adderhw"


def _lint(tree_root):
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), str(PYPROJECT), "--no-cache"], cwd=tree_root, capture_output=True,
                          text=True, timeout=300)


def test_every_layer_contract_is_kept(tmp_path):
    _installed_shape(tmp_path)
    r = _lint(tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "Contracts: 1 kept, 0 broken." in r.stdout


@pytest.mark.parametrize("module, line, broken", [
    # base reaching up into the RTL
    ("base/widths.py", "import adderhw.hw.pe", "adderhw.base is not allowed to import adderhw.hw"),
    # the golden model and the RTL must not know each other
    ("golden/fixed.py", "import adderhw.hw.pe", "adderhw.golden is not allowed to import adderhw.hw"),
    # sim reaching up into the application (how sim.link_tb once imported the host driver)
    ("sim/stalls.py", "import adderhw.run", "adderhw.sim is not allowed to import adderhw.run"),
])
def test_a_layer_broken_in_the_copy_fails_the_lint(tmp_path, module, line, broken):
    pkg = _installed_shape(tmp_path)
    path = pkg / module
    path.write_text(path.read_text() + f"\n{line}\n")
    r = _lint(tmp_path)
    assert r.returncode != 0 and broken in r.stdout, r.stdout[-4000:]


def test_the_flows_layer_names_every_module_of_the_application():
    """A module of adderhw/ missing from the contract would be held by no layer at all."""
    contract = next(c for c in _config()["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    named = {m.strip() for layer in contract["layers"] for m in layer.replace("|", ":").split(":")}
    modules = {f"adderhw.{p.stem}" for p in (ROOT / "adderhw").glob("*.py") if p.stem != "__init__"}
    assert modules <= named, sorted(modules - named)
