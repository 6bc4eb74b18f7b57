"""Every report carries its command and the commit of the code that made it (base.provenance)."""
import json
import subprocess

from adderhw.base import provenance
from adderhw.base.tables import write_reports


def test_a_report_records_the_checkouts_commit_and_the_flows_command(tmp_path):
    provenance.source_commit.cache_clear()          # this process may have asked before HEAD moved
    head = subprocess.run(["git", "-C", str(provenance._ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    js, md = write_reports(tmp_path, "r", {"command": "adderhw engine --network digits", "x": 1}, "# R\n\ntext")
    data = json.loads(js.read_text())
    assert data["command"] == "adderhw engine --network digits" and data["x"] == 1
    assert data["commit"].split("+")[0] == head and data["commit"] in (head, head + "+dirty")
    assert md.read_text().endswith(f"Made by `adderhw engine --network digits` from commit {data['commit']}.\n")


def test_without_a_recorded_command_the_typed_one_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["adderhw", "bench", "sim", "--rows", "4"])
    js, md = write_reports(tmp_path, "r", {"y": 2}, "# R\n\nadderhw bench sim --rows 4 ran")
    data = json.loads(js.read_text())
    assert data["command"] == "adderhw bench sim --rows 4"
    # the Markdown names the command only where it does not already
    assert md.read_text().rstrip().endswith(f"Made from commit {data['commit']}.")


def test_outside_a_git_checkout_the_commit_is_none(monkeypatch, tmp_path):
    provenance.source_commit.cache_clear()
    monkeypatch.setattr(provenance, "_ROOT", tmp_path)
    try:
        assert provenance.source_commit() is None
    finally:
        provenance.source_commit.cache_clear()
