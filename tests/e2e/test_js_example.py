"""examples/js: the tutorial from Node.js, typed from the live /openapi.json, gives the Python
client's numbers.

The test regenerates src/schema.d.ts from the running server's document (openapi-typescript),
type-checks the script against it (tsc --noEmit: a path, body field or response field the
document lacks fails here), builds and runs it, and compares every printed value with what
the Python client computes for the same code. It needs Node.js and npm (``.ci/run`` installs
them and runs ``npm ci`` in examples/js).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_http import REPO_ROOT

from client import ServerError, connect

JS = REPO_ROOT / "examples" / "js"


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv,
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def npm() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            "Node.js and npm are needed for examples/js (Debian: apt-get install nodejs npm; "
            ".ci/run installs them)"
        )
    if not (JS / "node_modules" / ".package-lock.json").exists():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"npm ci in examples/js failed (no registry?):\n{done.stderr[-2000:]}")
    return npm


def _python_tutorial(url: str) -> dict[str, Any]:
    """The same steps with the Python client."""
    with connect(url) as torch:
        x = torch.ones(2, 2, requires_grad=True)
        y = x + 2
        z = y * y * 3
        out = z.mean()
        seen: dict[str, Any] = {
            "x.requires_grad": x.requires_grad,
            "y.grad_fn": y.grad_fn.name(),
            "out": out.item(),
            "out.grad_fn": out.grad_fn.name(),
        }
        out.backward()
        seen["x.grad"] = x.grad.tolist()
        with pytest.raises(ServerError) as second:
            out.backward()
        seen["second backward"] = [second.value.status, second.value.code]
        with torch.no_grad():
            x -= 0.1 * x.grad
        seen["x after step"] = x.tolist()
        return seen


def test_js_tutorial_matches_the_python_client(npm: str, server: str) -> None:
    schema = JS / "src" / "schema.d.ts"
    schema.unlink(missing_ok=True)
    _run([npm, "run", "gen"], env={"GRADSERVE_URL": server})
    text = schema.read_text()
    for route in ("/v1/sessions/{session_id}/graph", "/v1/sessions/{session_id}/graph.svg"):
        assert f'"{route}"' in text
    _run([npm, "run", "check"])  # tsc --noEmit against the live document's types
    _run([npm, "run", "build"])
    printed = _run(["node", str(Path("build") / "tutorial.js"), server])

    js = {}
    for line in printed.splitlines():
        key, _, value = line.partition(": ")
        js[key] = json.loads(value)
    py = _python_tutorial(server)
    assert list(js) == list(py)
    for key, value in py.items():
        if key in ("x.grad", "x after step", "out"):
            # both in float32: the wire writes the shortest float32 text (0.54999995)
            np.testing.assert_array_equal(
                np.asarray(js[key], dtype=np.float32), np.asarray(value, dtype=np.float32)
            )
        else:
            assert js[key] == value, key
    assert js["out"] == 27 and js["x.grad"] == [[4.5, 4.5], [4.5, 4.5]]
    assert js["second backward"] == [409, "graph_freed"]


def test_lockfile_pins_the_tools() -> None:
    lock = json.loads((JS / "package-lock.json").read_text())
    package = json.loads((JS / "package.json").read_text())
    deps = {**package["dependencies"], **package["devDependencies"]}
    for name in ("openapi-fetch", "openapi-typescript", "typescript"):
        version = deps[name]
        assert version[0].isdigit(), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
