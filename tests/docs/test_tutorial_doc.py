"""docs/tutorial.md's code runs as printed: with ``import engine as torch`` and with PyTorch,
printing the same ``grad_fn`` names and gradients."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def tutorial_code() -> str:
    """The doc's Python block (the one that makes ``torch`` on its first line)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    code = next(b for b in blocks if b.startswith("import torch"))
    return code


def run(code: str, first_line: str) -> str:
    lines = code.splitlines()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile("\n".join([first_line, *lines[1:]]), str(DOC), "exec"), {})
    return out.getvalue()


def check(text: str) -> None:
    assert "<AddBackward0 object at 0x" in text
    assert "tensor(27., grad_fn=<MeanBackward0>)" in text
    assert "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])" in text
    assert text.rstrip().endswith("False\nFalse")


def test_the_tutorial_runs_on_the_engine() -> None:
    check(run(tutorial_code(), "import engine as torch"))


def test_the_tutorial_runs_on_pytorch() -> None:
    pytest.importorskip("torch")
    check(run(tutorial_code(), "import torch"))
