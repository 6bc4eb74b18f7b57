"""docs/results holds current results only, each carrying its provenance (issue 29): every JSON
file loads, names the command that made it (or says it was not recorded), and the commit of the
code that ran (or, for a result from before results recorded it, the commit that added the file, an
upper bound); no partial file of an interrupted run is committed."""
import json
import re
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
FILES = sorted(p for p in RESULTS.rglob("*.json"))


def test_there_are_results():
    assert len(FILES) > 50


def test_no_partial_file_of_an_interrupted_run_is_committed():
    assert not [p.name for p in RESULTS.rglob("*.partial.*")]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(RESULTS)) for p in FILES])
def test_every_result_carries_its_command_and_commit(path):
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    assert "command" in data and "commit" in data
    cmd = data["command"]
    assert (isinstance(cmd, str) and re.match(r"(adderhw|python -m adderhw)[ .]", cmd)) or \
        (cmd is None and data.get("command_note"))
    commit = data["commit"]
    if commit is None:
        assert re.fullmatch(r"[0-9a-f]{7,40}", data.get("made_no_later_than", "")) and data.get("commit_note")
    else:
        assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?", commit), commit
