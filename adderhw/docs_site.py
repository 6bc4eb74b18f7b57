"""The docs site's generated pages: the CLI reference from the parser, the results from their files.

``python -m adderhw.docs_site [DOCS_DIR]`` writes them under ``DOCS_DIR/generated/`` (default:
the ``docs/`` beside this package's repository). ``mkdocs build`` runs the same generator first,
through :func:`on_pre_build` (``hooks:`` in mkdocs.yml), so a plain ``mkdocs build --strict`` is
always built from the current parser and the current result files; the generated pages are not
committed (.gitignore).

Results (:func:`write_results`). Every ``docs/results/**/*.json`` gets one page,
``generated/results/<the same path>.md``, holding

* the file's own ``command`` and ``commit`` where it records them;
* the Markdown report beside it (the same name with ``.md``), which the command that made the
  JSON wrote from it, embedded verbatim except that its headings move one level down;
* the plot beside it (``.png``) where there is one;
* for a JSON without a report, its top-level scalar fields and the whole file.

Nothing on these pages is typed by hand: every number on them is copied from the result's own
JSON or report (tests/app/test_docs_site.py checks that), and the index groups the pages by kind
(:data:`KINDS`). A result that leaves docs/results leaves the site with it: the generator removes
the generated pages that no result file backs any more.

Headlines (:func:`headlines_page`): the tables that the README used to copy by hand (the engine
runs, the per-PE costs, the sweeps' answers, Fmax against array size, the engine against its array,
the whole accelerators on the boards), each cell read from a result's JSON and each row linked to
its result's page. A value is rounded for reading (:func:`_fmt`), never computed from others.

CLI reference (:func:`write_cli_reference`): every command and subcommand of
:func:`adderhw.cli.build_parser`, with its usage, its options, their defaults and their help.
"""

import argparse
import json
import os
import re
import sys
import tomllib
from pathlib import Path

from adderhw.cli import build_parser

__all__ = ["KINDS", "ResultFile", "find_results", "kind_of", "result_page", "results_index", "HEADLINES",
           "headlines_page",
           "demote_headings", "cli_reference", "API_MODULES", "source_module", "api_pages", "generate", "main", "on_pre_build"]

#: The groups of the results index, in order: (key, title, what a result's path starts with).
#: A result whose path matches no prefix goes to the last group.
KINDS = (
    ("engine", "Engine runs", ("engine_", "run_")),
    ("boards", "Board comparisons and builds", ("compare_boards", "compare_largest", "board_builds",
                                                 "build_engine")),
    ("bench", "Benches", ("bench_", "fmax_")),
    ("sweep", "Sweeps", ("sweep_",)),
    ("other", "Demos and model comparisons", ()),
)

#: The folder under the docs directory that the generator owns (and empties of stale pages).
GENERATED = "generated"

#: A JSON without a Markdown report is shown whole up to this many characters.
FULL_JSON_LIMIT = 40_000


class ResultFile:
    """One result: ``rel`` is its JSON's path under docs/results, without ``.json``."""

    def __init__(self, results_dir, json_path):
        self.results_dir = Path(results_dir)
        self.json_path = Path(json_path)
        self.rel = self.json_path.relative_to(self.results_dir).as_posix()[:-len(".json")]
        self.text = self.json_path.read_text()
        self.data = json.loads(self.text)
        md = self.json_path.with_suffix(".md")
        png = self.json_path.with_suffix(".png")
        self.md_path = md if md.is_file() else None
        self.png_path = png if png.is_file() else None
        self.md = self.md_path.read_text() if self.md_path else None

    @property
    def kind(self):
        return kind_of(self.rel)

    @property
    def command(self):
        return self.data.get("command") if isinstance(self.data, dict) else None

    @property
    def commit(self):
        return self.data.get("commit") if isinstance(self.data, dict) else None

    @property
    def page(self):
        """The generated page's path under the docs directory."""
        return f"{GENERATED}/results/{self.rel}.md"


def kind_of(rel):
    """The :data:`KINDS` key of a result at ``rel`` (its path under docs/results)."""
    for key, _, prefixes in KINDS:
        if rel.startswith(prefixes):
            return key
    return KINDS[-1][0]


def find_results(results_dir):
    """Every ``*.json`` under ``results_dir``, as :class:`ResultFile`, in path order."""
    results_dir = Path(results_dir)
    return [ResultFile(results_dir, p) for p in sorted(results_dir.rglob("*.json"))]


_FENCE = re.compile(r"^\s*(```|~~~)")


def demote_headings(md):
    """``md`` with every ATX heading one level deeper (outside code fences), so that an embedded
    report's title sits below the page's own."""
    out, fenced = [], False
    for line in md.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,5} ", line):
            line = "#" + line
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def _link(page, target):
    """A relative link from the page ``page`` to the file ``target`` (both under the docs dir)."""
    return os.path.relpath(target, os.path.dirname(page)).replace(os.sep, "/")


def _scalar(v):
    """A JSON scalar as the file writes it (json.dumps: the same digits as the file)."""
    return json.dumps(v, ensure_ascii=False)


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def result_page(r):
    """The Markdown of result ``r``'s page."""
    page = r.page
    results = f"results/{r.rel}"
    lines = [f"# {r.rel}", ""]
    lines.append(f"Source: [`docs/results/{r.rel}.json`]({_link(page, results + '.json')})"
                 + (" and its report `" + r.md_path.name + "`" if r.md_path else "") + ".")
    lines.append("")
    if r.command:
        lines += ["Made with:", "", "```sh", str(r.command), "```", ""]
    if r.commit:
        lines += [f"From commit `{r.commit}`.", ""]
    if r.png_path:
        lines += [f"![{r.png_path.name}]({_link(page, results + '.png')})", ""]
    if r.md is not None:
        lines += ["## Report", "", demote_headings(r.md)]
    else:
        lines += ["## Fields", "", "This result has no Markdown report; here is its JSON.", ""]
        if isinstance(r.data, dict):
            scalars = [(k, v) for k, v in r.data.items() if not isinstance(v, (dict, list))]
            if scalars:
                lines += ["| field | value |", "|---|---|"]
                lines += [f"| {_cell(k)} | {_cell(_scalar(v))} |" for k, v in scalars]
                lines.append("")
        if len(r.text) <= FULL_JSON_LIMIT:
            lines += ['??? note "The whole file"', "", "    ```json"]
            lines += ["    " + line for line in r.text.rstrip("\n").splitlines()]
            lines += ["    ```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def results_index(results):
    """The Markdown of the results index: one table per kind, a row per result."""
    lines = ["# Results", "",
             "Every page here is generated from a file in `docs/results/` when the site is built "
             "(`adderhw.docs_site`): the command that made it, the report that command wrote and its "
             "plot. No number on these pages is typed by hand.", ""]
    index = f"{GENERATED}/results/index.md"
    for key, title, _ in KINDS:
        group = [r for r in results if r.kind == key]
        if not group:
            continue
        lines += [f"## {title}", "", "| result | command | commit |", "|---|---|---|"]
        for r in group:
            command = f"`{_cell(r.command)}`" if r.command else ""
            commit = f"`{r.commit}`" if r.commit else ""
            lines.append(f"| [{r.rel}]({_link(index, r.page)}) | {command} | {commit} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ---- headlines: the tables a reader looks for first, read from the result files ------------------

#: The headlines page's path under the docs directory.
HEADLINES = f"{GENERATED}/results/headlines.md"


def _fmt(v, digits=1):
    """A JSON value for a table cell: floats rounded to ``digits`` places, None as a dash."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    if isinstance(v, list):
        return ", ".join(_fmt(x, digits) for x in v)
    return _cell(v)


def _row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header, rows):
    if not rows:
        return []
    return [_row(header), _row(["---"] * len(header)), *[_row(r) for r in rows], ""]


def _ref(r):
    """A link from the headlines page to result ``r``'s page, with its commit where it records one."""
    return f"[{r.rel}]({_link(HEADLINES, r.page)})" + (f" `{r.commit}`" if r.commit else "")


def _engine_rows(r):
    if not (r.rel.startswith("engine_") and r.json_path.name == "engine.json"):
        return
    d = r.data
    mult = d.get("multipliers")
    mult = ", ".join(f"{k} {v}" for k, v in mult.items()) if isinstance(mult, dict) else _fmt(mult)
    yield [_ref(r), d.get("network"), _cell(d.get("engine", "")), _fmt(d.get("first_last", "mul")),
           _fmt(d.get("requant", "mul")), _fmt(d.get("quant", "ptq")), _fmt(d.get("post_lanes")),
           _fmt(d.get("images")), _fmt(d.get("hw_correct")), _fmt(d.get("golden_correct")),
           _fmt(d.get("bit_exact")), _fmt(d.get("cycles_per_image")),
           _fmt(d.get("cycles_match_model")), mult or "0"]


def _pe_cells(r, rows_of):
    """The cells of each per-PE row of a ``bench pe`` result ``r`` (``rows_of``: its rows)."""
    for row in rows_of:
        yield [_ref(r), row.get("device"), row.get("variant"), _fmt(row.get("luts_per_pe")),
               _fmt(row.get("ffs_per_pe")), _fmt(row.get("logic_per_pe")), _fmt(row.get("fmax_mhz")),
               _fmt(row.get("fmax_size"))]


def _pe_rows(r):
    if r.rel == "bench_pe":
        yield from _pe_cells(r, r.data.get("rows", []))


def _pe_widths_rows(r):
    if r.rel.endswith("bench_pe_widths/bench_pe_widths"):
        for width, run in sorted(r.data.get("by_width", {}).items(), key=lambda kv: int(kv[0])):
            yield from ([width, *cells] for cells in _pe_cells(r, run.get("rows", [])))


def _sweep_rows(r):
    d = r.data
    if not r.rel.startswith("sweep_") or not isinstance(d.get("results"), list):
        return
    for k in d["results"]:
        best = k.get("best") or {}
        shape = f"{best['rows']}×{best['cols']}" if best else "none"
        logic = (f"{best.get('logic')} / {best.get('logic_available')}"
                 if best.get("logic") is not None else "–")
        yield [_ref(r), d.get("device"), _fmt(d.get("target_mhz")), d.get("bound", "clock"),
               _fmt(d.get("complete")), k.get("kind"), shape, _fmt(best.get("pes")),
               _fmt(best.get("fmax_mhz")), _fmt(k.get("throughput_gops"), 2), logic]


def _fmax_rows(r):
    d = r.data
    if not (r.rel.startswith("bench_fmax") and isinstance(d.get("points"), list)):
        return
    for pt in d["points"]:
        if isinstance(pt, dict) and "n" in pt:
            yield [_ref(r), pt.get("board"), pt.get("kind"), _fmt(d.get("skew", "registers")),
                   f"{pt['n']}×{pt['n']}", _fmt(pt.get("runs")), _fmt(pt.get("fmax_min")),
                   _fmt(pt.get("fmax_median")), _fmt(pt.get("fmax_max"))]


def _engine_fmax_rows(r):
    d = r.data
    if r.json_path.name == "bench_engine_fmax.json":
        yield [_ref(r), d.get("board"), f"{d.get('rows')}×{d.get('cols')}", _cell(d.get("engine", "")),
               _fmt(d.get("seeds")), _fmt(d.get("engine_fmax_median_mhz")),
               _fmt(d.get("array_fmax_median_mhz")), _fmt(d.get("ratio"), 2), _fmt(d.get("goal")),
               _fmt(d.get("met")), _fmt(d.get("images_per_s_per_kluts_median"), 0)]


def _engine_cells(e):
    if not isinstance(e, dict):
        return ["–"] * 5
    dsp = e.get("dsp") or {}
    fits = e.get("fits", True)
    return [_fmt(e.get("luts")), _fmt(e.get("ffs")), _fmt(dsp.get("used") if isinstance(dsp, dict) else dsp),
            _fmt(e.get("fmax_mhz")) if fits else "does not fit",
            _fmt(e.get("images_per_s_at_fmax"), 0) if fits else "–"]


def _largest_cells(entry):
    """Each kind's largest engine of a board in a ``compare-boards --largest`` result."""
    cells = []
    for pe in ("sad", "mac"):
        big = (entry.get(pe) or {}).get("largest") or {}
        cells += [f"{big['rows']}×{big['cols']}" if big else "none", _fmt(big.get("luts")),
                  _fmt(big.get("fmax_mhz")), _fmt(big.get("images_per_s_at_fmax"), 0)]
    return cells


def _comparison_rows(r, filename, key, cells_of, ratios):
    """The rows of a whole-accelerator comparison ``r`` (when its file is ``filename``), one per item
    of ``r.data[key]`` (a pair or a board): the result, the board, ``cells_of(item, kind)`` (``kind``:
    the AdderNet engine's, multiplier-free or paper-style), then the item's ``ratios``."""
    d = r.data
    if r.json_path.name != filename:
        return
    kind = "multiplier-free" if d.get("first_last") == "adder" else "paper-style"
    for item in d.get(key, []):
        ratio = item.get("ratio") or {}
        yield [_ref(r), item.get("board"), *cells_of(item, kind), *(_fmt(ratio.get(k), 2) for k in ratios)]


def _boards_rows(r):
    def cells(p, kind):
        return [f"{p.get('rows')}×{p.get('cols')}", kind, _fmt(p.get("dsp")), *_engine_cells(p.get("sad")),
                *_engine_cells(p.get("mac"))]
    return _comparison_rows(r, "compare_boards.json", "pairs", cells, ("luts", "images_per_s_at_fmax"))


def _largest_rows(r):
    max_pes = _fmt(r.data.get("max_pes"))
    return _comparison_rows(r, "compare_largest.json", "boards", lambda b, kind: [kind, max_pes, *_largest_cells(b)],
                            ("images_per_s_at_fmax",))


#: The sections of the headlines page: (title, what it shows, the table's header, its rows: a
#: generator of the rows of one result, none for a result of another kind).
_HEADLINE_SECTIONS = (
    ("The layer engine: whole networks on chip",
     "Every `engine_*/engine.json`: the engine's classes against the golden program's on the whole test "
     "set, and its measured cycles against the engine cycle model.",
     ["result", "network", "engine", "first/last", "requant", "quant", "post lanes", "images", "engine correct",
      "golden correct", "bit-exact", "cycles/image", "= model", "multipliers"], _engine_rows),
    ("What a PE costs",
     "`adderhw bench pe`: per-PE cost fitted over several array sizes in the benchmark harness, so the "
     "harness cancels; Fmax at the size named.",
     ["result", "device", "PE", "LUT4 / PE", "FF / PE", "logic cells / PE", "Fmax MHz", "at"], _pe_rows),
    ("What a PE costs against the operand width", "`adderhw bench pe --widths`: the same fit at each width.",
     ["bits", "result", "device", "PE", "LUT4 / PE", "FF / PE", "logic cells / PE", "Fmax MHz", "at"],
     _pe_widths_rows),
    ("The largest array that meets the clock (sweeps)",
     "`adderhw sweep`: per board and PE kind, the largest array that fits and meets the target clock "
     "(`bound` clock) or that places and routes at any clock (`bound` area); a sweep that is not "
     "`complete` was stopped and resumes with its command.",
     ["result", "device", "target MHz", "bound", "complete", "PE", "largest array", "PEs", "Fmax MHz",
      "G terms/s", "logic cells"], _sweep_rows),
    ("Fmax against array size",
     "`adderhw bench fmax`: N×N arrays in the benchmark harness over nextpnr seeds. The files under "
     "`bench_fmax_history/` are earlier steps of the array, described on the "
     "[history page](../../history.md).",
     ["result", "board", "PE", "skew", "array", "seeds built", "min MHz", "median MHz", "max MHz"], _fmax_rows),
    ("The engine against its bare array",
     "`adderhw bench engine-fmax`: the whole engine's Fmax against the array it holds, same board and "
     "seeds; and the engine's images/s at its Fmax per 1,000 LUT4 (median over the seeds; LUT4 cells, carry "
     "cells apart; \"–\" where the result predates the column).",
     ["result", "board", "array", "engine", "seeds", "engine median MHz", "array median MHz", "engine / array",
      "goal", "met", "images/s per 1k LUT4"], _engine_fmax_rows),
    ("The whole accelerator on the boards",
     "`adderhw compare-boards`: the AdderNet engine against its CNN twin at the same array size. "
     "Ratios are AdderNet / CNN twin, as the result files hold them.",
     ["result", "board", "array", "AdderNet", "DSPs", "AdderNet LUT4", "FF", "DSP", "Fmax MHz", "images/s at Fmax",
      "CNN twin LUT4", "FF", "DSP", "Fmax MHz", "images/s at Fmax", "LUT4 ratio", "images/s ratio"], _boards_rows),
    ("The largest engine of each kind per board",
     "`adderhw compare-boards --largest`: the largest engine of each kind that places and routes.",
     ["result", "board", "AdderNet", "max PEs", "AdderNet array", "LUT4", "Fmax MHz", "images/s", "CNN twin array",
      "LUT4", "Fmax MHz", "images/s", "images/s ratio"], _largest_rows),
)


def headlines_page(results):
    """The Markdown of the headlines page: one table per section of :data:`_HEADLINE_SECTIONS`."""
    lines = ["# Headlines", "",
             "The tables below are generated from the files in `docs/results/` when the site is built "
             "(`adderhw.docs_site.headlines_page`); each row links to its result's page, which has the "
             "command that made it and its commit. Values are rounded for reading; nothing here is typed "
             "by hand. How the numbers came to be what they are is on the [history page](../../history.md).",
             ""]
    for title, what, header, rows_of in _HEADLINE_SECTIONS:
        table = _table(header, [row for r in results for row in rows_of(r)])
        if table:
            lines += [f"## {title}", "", what, "", *table]
    return "\n".join(lines).rstrip("\n") + "\n"


def _actions(parser):
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _subcommands(parser):
    """(name, help, subparser) of each subcommand of ``parser``, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub


def _usage(parser):
    # a fixed width, so the page does not depend on the terminal that generated it
    fmt = argparse.HelpFormatter(parser.prog, width=100)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return fmt.format_help().strip()


def _help_text(parser, action):
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    try:
        return parser._get_formatter()._expand_help(action)
    except (KeyError, TypeError, ValueError):
        return action.help


def _option_row(parser, action):
    names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
    if action.choices is not None:
        value = " ".join(f"`{c}`" for c in action.choices)
    elif action.nargs == 0:
        value = ""
    else:
        value = f"`{action.metavar or action.dest.upper()}`"
    default = action.default
    shown = "" if default in (None, argparse.SUPPRESS) or action.nargs == 0 else f"`{default}`"
    if action.required:
        shown = "required"
    return f"| {names} | {_cell(value)} | {_cell(shown)} | {_cell(_help_text(parser, action))} |"


def _options_table(parser):
    """The lines of ``parser``'s own options as a Markdown table (none when it has none)."""
    actions = _actions(parser)
    if not actions:
        return []
    return ["| option | value | default | help |", "|---|---|---|---|",
            *[_option_row(parser, a) for a in actions], ""]


def _command_section(parser, path, help_text, lines, level):
    lines += [f"{'#' * level} `{' '.join(path)}`", ""]
    if help_text:
        lines += [help_text, ""]
    lines += ["```text", _usage(parser), "```", ""]
    lines += _options_table(parser)
    for name, sub_help, sub in _subcommands(parser):
        _command_section(sub, path + [name], sub_help, lines, min(level + 1, 4))


def cli_reference(parser=None):
    """The Markdown of the CLI reference, walked from ``parser`` (default ``build_parser()``)."""
    parser = parser or build_parser()
    lines = ["# Command line", "",
             f"Generated from `adderhw.cli.build_parser()` when the site is built. {parser.description}", ""]
    lines += _options_table(parser)
    for name, sub_help, sub in _subcommands(parser):
        _command_section(sub, ["adderhw", name], sub_help, lines, 2)
    return "\n".join(lines).rstrip("\n") + "\n"


#: The modules of the API reference: (page name, module, what it is).
API_MODULES = (
    ("config", "adderhw.base.config", "`ArrayConfig`, the one description of an array"),
    ("engine-config", "adderhw.base.engine", "`EngineConfig`, the one description of a layer engine"),
    ("gemm", "adderhw.golden.gemm", "the bit-exact SAD and MAC GEMMs"),
    ("cycles", "adderhw.golden.cycles", "the array's exact cycle model"),
    ("program", "adderhw.golden.program", "the engine's program and its golden model"),
    ("pe", "adderhw.hw.pe", "the SAD and MAC processing elements"),
    ("array", "adderhw.hw.array", "the systolic array"),
    ("gemm-sim", "adderhw.sim.gemm", "one GEMM on any simulator"),
    ("executor", "adderhw.base.executor", "where parallel jobs run"),
)


def source_module(module, pyproject):
    """The name under which mkdocstrings finds ``module`` in the repository's folders.

    The packages install from folders of other names (pyproject.toml's
    ``[tool.setuptools.package-dir]``: ``adderhw.golden`` from ``golden/``), and mkdocstrings reads
    the source statically from the repository (``paths: [.]`` in mkdocs.yml) without importing it,
    so ``adderhw.golden.program`` is found as ``golden.program``."""
    dirs = tomllib.loads(Path(pyproject).read_text())["tool"]["setuptools"].get("package-dir", {})
    for package, folder in sorted(dirs.items(), key=lambda kv: -len(kv[0])):
        if package and (module == package or module.startswith(package + ".")):
            return folder.strip("/").replace("/", ".") + module[len(package):]
    return module


def api_pages(pyproject):
    """{page path under the docs dir: Markdown} of the API reference and its index."""
    pages = {}
    rows = ["| module | what it is |", "|---|---|"]
    for name, module, what in API_MODULES:
        pages[f"{GENERATED}/api/{name}.md"] = (
            f"# `{module}`\n\n::: {source_module(module, pyproject)}\n"
            "    options:\n      show_root_heading: false\n")
        rows.append(f"| [`{module}`]({name}.md) | {what} |")
    pages[f"{GENERATED}/api/index.md"] = "\n".join([
        "# API reference", "",
        "Generated from the modules' docstrings with mkdocstrings when the site is built. These are "
        "the modules a user of the library meets first.", "", *rows]) + "\n"
    return pages


def _write(path, text):
    """Write only when the text changed, so ``mkdocs serve`` does not rebuild forever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def generate(docs_dir):
    """Write every generated page under ``docs_dir/generated`` and remove stale ones.
    Returns the results it wrote pages for."""
    docs_dir = Path(docs_dir)
    out = docs_dir / GENERATED
    results = find_results(docs_dir / "results")
    pages = {docs_dir / r.page: result_page(r) for r in results}
    pages[out / "results" / "index.md"] = results_index(results)
    pages[docs_dir / HEADLINES] = headlines_page(results)
    pages[out / "cli.md"] = cli_reference()
    pyproject = docs_dir.parent / "pyproject.toml"
    pages.update({docs_dir / page: text for page, text in api_pages(pyproject).items()})
    for path, text in pages.items():
        _write(path, text)
    if out.is_dir():
        for path in sorted(out.rglob("*"), reverse=True):
            if path.is_file() and path not in pages:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return results


def on_pre_build(config, **kwargs):
    """mkdocs hook (mkdocs.yml ``hooks:``): generate the pages before mkdocs collects its files."""
    generate(config["docs_dir"])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    docs_dir = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "docs"
    results = generate(docs_dir)
    print(f"{len(results)} result pages and the CLI reference in {docs_dir / GENERATED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
