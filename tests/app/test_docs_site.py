"""The docs site: ``mkdocs build --strict`` passes, and every figure on the results pages comes
from a file in docs/results (adderhw.docs_site generates them; issue 29, items 5 and 6)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adderhw import docs_site
from adderhw.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
RESULTS = DOCS / "results"

# a number as it is written in a JSON file or a report: 17428, 0.984, 1e-05, 2x8 gives 2 and 8
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def numbers(text):
    return set(NUMBER.findall(text))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as a user builds it: plain ``mkdocs build --strict`` (its hook generates the pages)."""
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(REPO / "mkdocs.yml"),
                          "-d", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.fixture(scope="module")
def results():
    return docs_site.find_results(RESULTS)


def page_of(r):
    return (DOCS / r.page).read_text()


def test_mkdocs_build_strict_passes(site):
    assert (site / "index.html").is_file()
    for page in ("architecture", "subsystems/array", "subsystems/engine", "subsystems/link-and-boards",
                 "subsystems/quantisation", "subsystems/formal", "subsystems/cluster", "generated/cli",
                 "generated/results", "generated/results/headlines", "generated/api/program", "history",
                 "subsystems/simulation", "subsystems/networks", "tutorials/add-a-pe-kind",
                 "tutorials/add-a-board"):
        assert (site / page / "index.html").is_file(), page
    # mkdocstrings rendered the module's own docstring
    assert "bit-exact golden model" in (site / "generated/api/program/index.html").read_text()


def test_every_result_loads_and_has_its_page(site, results):
    files = sorted(RESULTS.rglob("*.json"))
    assert files and len(results) == len(files)
    for path in files:
        assert isinstance(json.loads(path.read_text()), dict), path
    index = (DOCS / "generated/results/index.md").read_text()
    for r in results:
        assert (DOCS / r.page).is_file(), r.page
        assert (site / r.page[:-len(".md")] / "index.html").is_file(), r.page
        assert f"]({r.rel}.md)" in index, r.rel
        if r.png_path:
            assert (site / "results" / f"{r.rel}.png").is_file(), r.rel
    kinds = {r.kind for r in results}
    assert {"engine", "boards", "bench", "sweep"} <= kinds


def test_result_pages_carry_the_files_values(site, results):
    """Values picked from the JSON appear on the page: the command, and the headline numbers."""
    picked = {"engine.json": ("images", "hw_correct", "cycles_per_batch_model"),
              "run.json": ("images", "correct", "model_cycles_per_batch")}
    checked = 0
    for r in results:
        page = page_of(r)
        if r.command:
            assert f"```sh\n{r.command}\n```" in page, r.rel
        if r.commit:
            assert f"`{r.commit}`" in page, r.rel
        if r.md is None:
            # no report: every top-level number of the JSON is in the page's table, as the file writes it
            for k, v in r.data.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert f"| {k} | {json.dumps(v)} |" in page, (r.rel, k)
                    checked += 1
        for key in picked.get(r.json_path.name, ()):
            v = r.data[key]
            assert str(v) in page or f"{v:,}" in page, (r.rel, key, v)
            checked += 1
    assert checked >= 10


def test_generator_adds_no_number_of_its_own(site, results):
    """Each results page is the result's own report plus a template: outside the embedded report,
    every number on the page is in the result's JSON or its path; the index only shows the files'
    commands, commits and paths."""
    everything = set()
    for r in results:
        page = page_of(r)
        allowed = numbers(r.text) | numbers(r.rel)
        everything |= allowed
        if r.md is not None:
            embedded = docs_site.demote_headings(r.md)
            assert page.count(embedded) == 1, r.rel
            # the report is the file's, with its headings one level down and nothing else changed
            for mine, theirs in zip(embedded.splitlines(), r.md.rstrip("\n").splitlines(), strict=True):
                assert mine == theirs or (mine == "#" + theirs and theirs.startswith("#")), (r.rel, theirs)
            page = page.replace(embedded, "")
        stray = numbers(page) - allowed
        assert not stray, (r.rel, sorted(stray))
    index = (DOCS / "generated/results/index.md").read_text()
    assert not numbers(index) - everything


def test_cli_reference_lists_every_command_and_option(site):
    text = (DOCS / "generated/cli.md").read_text()

    def walk(parser, path):
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in text, (path, option)
            if action.choices and hasattr(action, "_choices_actions"):
                for name, sub in action.choices.items():
                    assert f"`{' '.join(path + [name])}`" in text, path + [name]
                    walk(sub, path + [name])
    walk(build_parser(), ["adderhw"])


def test_source_module_follows_the_package_dirs(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.setuptools.package-dir]\n"adderhw.golden" = "golden"\n"adderhw.base" = "base"\n')
    assert docs_site.source_module("adderhw.golden.program", pyproject) == "golden.program"
    assert docs_site.source_module("adderhw.base", pyproject) == "base"
    assert docs_site.source_module("adderhw.cli", pyproject) == "adderhw.cli"
    assert docs_site.source_module("adderhw.goldenish", pyproject) == "adderhw.goldenish"


def test_a_result_that_leaves_takes_its_page_with_it(tmp_path):
    docs = tmp_path / "docs"
    (docs / "results/engine_x").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    (docs / "results/engine_x/engine.json").write_text('{"images": 7, "command": "adderhw engine --rows 3"}')
    (docs / "results/engine_x/engine.md").write_text("# Engine\n\n7 images\n")
    (docs / "results/bench_y.json").write_text('{"ratio": 0.25}')
    docs_site.generate(docs)
    page = (docs / "generated/results/engine_x/engine.md").read_text()
    assert "## Engine\n\n7 images" in page and "adderhw engine --rows 3" in page
    assert "| ratio | 0.25 |" in (docs / "generated/results/bench_y.md").read_text()
    index = (docs / "generated/results/index.md").read_text()
    assert index.index("## Engine runs") < index.index("engine_x/engine") < index.index("## Benches")
    (docs / "results/engine_x/engine.json").unlink()
    docs_site.generate(docs)
    assert not (docs / "generated/results/engine_x").exists()
    assert "engine_x" not in (docs / "generated/results/index.md").read_text()


def test_the_headlines_are_read_from_the_files(site, results):
    """Every engine run's correct count and cycles per image, and every sweep's answer, appear in
    the headlines page's row for that result, as the file holds them (rounded to one place)."""
    page = (DOCS / docs_site.HEADLINES).read_text()
    rows = {}
    for line in page.splitlines():
        m = re.match(r"\| (?:\d+ \| )?\[([^\]]+)\]", line)
        if m:
            rows.setdefault(m.group(1), []).append(line)
    checked = 0
    for r in results:
        if r.rel.startswith("engine_") and r.json_path.name == "engine.json":
            (row,) = rows[r.rel]
            assert f"| {r.data['hw_correct']} |" in row and f"| {r.data['cycles_per_image']:.1f} |" in row, row
            checked += 1
        if r.rel.startswith("sweep_") and isinstance(r.data.get("results"), list):
            for k, row in zip(r.data["results"], rows[r.rel], strict=True):
                best = k["best"]
                assert f"| {k['kind']} | {best['rows']}×{best['cols']} | {best['pes']} |" in row, row
                assert f"| {best['fmax_mhz']:.1f} |" in row, row
                checked += 1
    assert checked >= 20
    # every row links to a result page that exists
    for rel in rows:
        assert (DOCS / docs_site.GENERATED / "results" / f"{rel}.md").is_file(), rel
