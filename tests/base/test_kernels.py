from adderhw.base.kernels import PIN, PINNED_ISA, cpu_has_avx2, pin_kernels


def test_pin_sets_every_switch_on_an_avx2_cpu():
    env = {}
    assert sorted(pin_kernels(env, has_avx2=True)) == sorted(PIN)
    assert env == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def test_pin_leaves_a_users_choice_alone():
    env = {"ATEN_CPU_CAPABILITY": "default"}
    assert "ATEN_CPU_CAPABILITY" not in pin_kernels(env, has_avx2=True)
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["MKL_CBWR"] == "AVX2"


def test_no_pin_without_avx2():
    # told "avx2" on a CPU without it, ATen would run illegal instructions
    env = {}
    assert pin_kernels(env, has_avx2=False) == [] and env == {}


def test_cpuinfo_reading(tmp_path, monkeypatch):
    import platform
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    yes = tmp_path / "yes"
    yes.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    no = tmp_path / "no"
    no.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2x\n")
    assert cpu_has_avx2(yes) is True
    assert cpu_has_avx2(no) is False
    assert cpu_has_avx2(tmp_path / "missing") is False
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert cpu_has_avx2(yes) is False


def test_this_process_runs_the_pinned_kernels():
    # adderhw was imported before torch ran an op (tests/conftest imports nothing of torch first)
    import torch
    import adderhw  # noqa: F401
    if cpu_has_avx2():
        assert torch.backends.cpu.get_cpu_capability() == PINNED_ISA
