"""adderhw compile MODEL and --program FILE: a user's model from a file, through the compiler, onto
the engine; and every refusal in one sentence."""
import json
import textwrap

import numpy as np
import pytest

from adderhw.cli import main

USER_MODEL = textwrap.dedent('''
    import torch
    from torch import nn


    class L1(torch.autograd.Function):
        """The adder2d interface's forward: a custom autograd Function (the tracer keeps its module)."""
        @staticmethod
        def forward(ctx, x, w, stride, padding):
            cols = nn.functional.unfold(x, w.shape[2], padding=padding, stride=stride)
            out = -(cols.unsqueeze(1) - w.reshape(w.shape[0], -1, 1).unsqueeze(0)).abs().sum(2)
            h = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
            return out.reshape(x.shape[0], w.shape[0], h, -1)

        @staticmethod
        def backward(ctx, g):
            return None, None, None, None


    class Adder(nn.Module):
        def __init__(self, cin, cout, k, padding=0):
            super().__init__()
            self.adder = nn.Parameter(torch.randn(cout, cin, k, k) * 0.5)
            self.stride, self.padding, self.bias = 1, padding, False

        def forward(self, x):
            return L1.apply(x, self.adder, self.stride, self.padding)


    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.a = Adder(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 4 * 4, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.bn(self.a(x))), 2)
            return self.fc(x.flatten(1))
''')


def _same_program(p, q):
    """Field by field (arrays by value): the dataclasses' own == cannot compare arrays."""
    def same(a, b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(a, b)
        if isinstance(a, (tuple, list)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        if hasattr(a, "__dataclass_fields__"):
            return type(a) is type(b) and all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
        return a == b
    return same(p, q)


@pytest.fixture
def user(tmp_path):
    from sklearn.datasets import load_digits
    d = load_digits()
    (tmp_path / "tiny.py").write_text(USER_MODEL)
    np.savez(tmp_path / "digits.npz", x=(d.images[:64] / 16.0).astype(np.float32)[:, None], y=d.target[:64])
    return tmp_path


def test_compile_writes_a_program_file_that_the_engine_runs_bit_exact(user, capsys):
    prog = user / "tiny.npz"
    assert main(["compile", str(user / "tiny.py:Tiny"), "--calib", str(user / "digits.npz"), "-o", str(prog)]) == 0
    err = capsys.readouterr().err
    assert "2 steps: a (add), fc (mul)" in err and "the 8-bit program" in err
    from adderhw.compile import compile as compile_api, load_program
    from adderhw.user_model import load_user_model
    pf = load_program(prog)
    with np.load(user / "digits.npz") as f:
        again = compile_api(load_user_model(f"{user / 'tiny.py'}:Tiny"), (f["x"], f["y"]))
    assert _same_program(pf.program, again)         # the command and the API give the same program
    assert pf.source_model == "Tiny" and len(pf.source_sha256) == 64
    out = user / "engine"
    rc = main(["engine", "--program", str(prog), "--data", str(user / "digits.npz"), "--sim", "amaranth",
               "--images", "2", "--rows", "2", "--cols", "2", "--out", str(out)])
    assert rc == 0
    r = json.loads((out / "engine.json").read_text())
    assert r["bit_exact"] is True and r["cycles_match_model"] is True
    assert r["network"] == "Tiny" and r["pe"] == "sad" and r["hw_correct"] == r["golden_correct"]
    assert r["program_file"] == str(prog) and r["source_sha256"] == pf.source_sha256
    assert r["command"].startswith(f"adderhw engine --program {prog} --data {user / 'digits.npz'}")
    # a program file's engine has its tables exactly as deep as the program needs
    from adderhw.golden.network_program import engine_for
    from adderhw.golden.program import memory_images
    from adderhw.workload import program_workload
    assert program_workload(prog).exact_depths
    words = len(memory_images(pf.program, engine_for(pf.program, 2, 2, "sad", 2, exact_depths=True)).weights)
    assert f"weights {max(words, 16)}," in r["engine"]


@pytest.mark.parametrize("argv, message", [
    (["engine", "--program", "p.npz"], "--program p.npz needs --data FILE.npz"),
    (["engine", "--data", "d.npz"], "--data d.npz gives images for --program, which is not given"),
    (["build", "--top", "array", "--board", "icebreaker", "--out", "o", "--program", "p.npz"],
     "--program p.npz applies to --top engine only"),
    (["compile", "nowhere.py", "--calib", "d.npz", "-o", "p.npz"], "'nowhere.py' is not a file"),
    (["compile", "m.py", "--calib", "d.npz", "-o", "p.json"], "must name a .npz file"),
    (["compile", "m.py", "--calib", "d.npz", "-o", "p.npz", "--quant", "qat-group"],
     "--quant must be one of ptq, qat, not 'qat-group'"),
])
def test_bad_options_are_refused_in_one_sentence(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text("x = 1\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_model_file_without_the_named_model_is_refused_naming_what_it_has(tmp_path, capsys):
    (tmp_path / "m.py").write_text("import torch\nnet = torch.nn.Linear(2, 2)\n")
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 2, 2), np.float32))
    assert main(["compile", str(tmp_path / "m.py"), "--calib", str(tmp_path / "d.npz"), "-o",
                 str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert "defines no 'model'" in err and "net" in err and "Traceback" not in err
