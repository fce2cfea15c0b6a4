"""docs/api.md's curl examples, run in order as one bash script against a live server, say
what the page says they say."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _kit.server import SpawnServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
DOC_URL = "http://127.0.0.1:8000"


def script() -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) >= 8, "docs/api.md lost its curl examples"
    text = "\n".join(blocks)
    assert f"GS={DOC_URL}" in text
    return text


def test_the_curl_examples_run(spawn_server: SpawnServer, tmp_path: Path) -> None:
    if shutil.which("bash") is None or shutil.which("curl") is None:
        pytest.skip("the examples need bash and curl")
    server = spawn_server()
    env = dict(os.environ)  # python3 in the script: this interpreter's (NumPy for .npy)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script().replace(DOC_URL, server.url)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # the .npy example writes w.npy and back.npy
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # what the comments beside the examples promise, in order
    promised = [
        '"grad_fn":"MeanBackward0"',  # the tutorial's graph
        '"grad_fn":"TripleBackward"',  # a custom Function's stored template
        '"data":[[4.5,4.5],[4.5,4.5]]',  # x.grad after backward
        '"code":"graph_freed"',  # the second backward
        '"data":[[0.54999995,0.54999995],[0.54999995,0.54999995]]',  # after the SGD step
        '"name":"dfdx"',  # the session's functional vjp, bound
        '"data":[[6.0,0.0],[0.0,12.0]]',  # the stateless hessian
        '"code":"unknown_op"',  # the Errors example
        '{"status":"ready"}',
        "gradserve_sessions_live",
    ]
    at = 0
    for text in promised:
        found = out.find(text, at)
        assert found >= 0, f"{text!r} not in the output after offset {at}:\n{out}"
        at = found
    assert (tmp_path / "back.npy").stat().st_size > 0  # the .npy round trip
    r = subprocess.run(["curl", "-s", f"{server.url}/metrics"], capture_output=True, text=True)
    assert "gradserve_sessions_live 1.0" in r.stdout  # the last example deleted its session
