"""Output paths are checked before work starts: one sentence for each way a path cannot be written."""
import pytest

from adderhw.base.errors import BadParameter
from adderhw.base.paths import check_output_dir, check_output_file


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file.txt").write_text("x")
    return tmp_path


def test_a_file_may_go_into_an_existing_directory(tree):
    assert check_output_file("--json", tree / "dir" / "r.json") == tree / "dir" / "r.json"
    assert check_output_file("--json", tree / "file.txt") == tree / "file.txt"     # overwritten, as asked


@pytest.mark.parametrize("name,msg", [
    ("dir", "--json names '{t}/dir', which is a directory; give a file name"),
    ("missing/r.json", "--json names '{t}/missing/r.json', whose directory '{t}/missing' does not exist"),
    ("file.txt/r.json", "--json names '{t}/file.txt/r.json', but '{t}/file.txt' is a file, not a directory"),
])
def test_a_file_that_cannot_be_written_is_refused(tree, name, msg):
    with pytest.raises(BadParameter) as info:
        check_output_file("--json", str(tree / name))
    assert str(info.value) == msg.format(t=tree)


def test_a_directory_may_exist_or_be_created_later(tree):
    assert check_output_dir("--out", tree / "dir") == tree / "dir"
    assert check_output_dir("--out", tree / "new" / "deeper") == tree / "new" / "deeper"
    assert not (tree / "new").exists()                  # checking creates nothing


@pytest.mark.parametrize("name,msg", [
    ("file.txt", "--out names '{t}/file.txt', which is a file, not a directory"),
    ("file.txt/sub/deeper", "--out names '{t}/file.txt/sub/deeper', but '{t}/file.txt' is a file, not a directory"),
])
def test_a_directory_that_cannot_be_made_is_refused(tree, name, msg):
    with pytest.raises(BadParameter) as info:
        check_output_dir("--out", str(tree / name))
    assert str(info.value) == msg.format(t=tree)
