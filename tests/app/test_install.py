"""The distribution installs one top-level package, ``adderhw``; golden/hw/sim/boards live under it."""
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = out.glob("adderhw-*.whl")
    return whl


def test_wheel_has_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"adderhw"}
    for sub in ("base", "golden", "hw", "sim", "boards"):
        assert f"adderhw/{sub}/__init__.py" in names


def test_the_wheel_carries_the_bsd_2_clause_licence(wheel):
    z = zipfile.ZipFile(wheel)
    (name,) = [n for n in z.namelist() if ".dist-info/" in n and n.endswith("LICENSE")]
    text = z.read(name).decode()
    assert text == (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 2-Clause License\n\nCopyright (c) 2026, the adderhw authors\n")
    metadata = z.read(name.split(".dist-info/")[0] + ".dist-info/METADATA").decode()
    assert "License: BSD-2-Clause" in metadata.splitlines()


def test_fresh_install_exposes_only_adderhw(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    # The dependencies (amaranth, numpy...) come from the environment running these tests, which is
    # install.sh's .venv in CI: a venv made with system_site_packages=True would see the base
    # Python's packages, not that venv's. So the new venv lists the running environment's
    # site-packages as plain paths in a .pth file. Python appends such paths to sys.path after the
    # venv's own site-packages and does not read the .pth files inside them, so adderhw's editable
    # install there stays inactive and only the wheel can provide adderhw.
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_test_deps.pth").write_text("".join(f"{d}\n" for d in site.getsitepackages()))
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    probe = ("import adderhw.hw, adderhw.golden, adderhw.sim, adderhw.boards, importlib.util as u;"
             "print(adderhw.hw.__file__);"
             "print([n for n in ('hw', 'golden', 'sim', 'boards') if u.find_spec(n) is not None])")
    r = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    where, leaked = r.stdout.splitlines()
    assert where.startswith(str(env_dir))
    assert leaked == "[]"
