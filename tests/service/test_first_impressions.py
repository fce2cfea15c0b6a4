"""First impressions: the command line (--version, serve --help, doctor), 415 for a body that
is not JSON, /openapi.json under its own route in /metrics, the seeded training example."""

from __future__ import annotations

import importlib.metadata
import io
import tomllib
from pathlib import Path

import httpx
import pytest
from service_testkit import Sess, assert_problem

from service import cli
from service.doctor import check_store, run_doctor
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert capsys.readouterr().out.strip() == f"gradserve {project['version']}"
    assert importlib.metadata.version("gradserve") == project["version"]


def test_every_serve_option_has_help_with_default_and_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADSERVE_PORT", "8123")
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    options = {"--host": "HOST", "--port": "PORT", "--workers": "WORKERS", "--store": "STORE"}
    options["--log-level"] = "LOG_LEVEL"
    for option, var in options.items():
        assert option in text
        assert f"env GRADSERVE_{var})" in text, (option, text)
    assert text.count("(default: ") == len(options)
    assert "(default: 8123; env GRADSERVE_PORT)" in text  # the default in force, not the code's


def test_invalid_environment_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADSERVE_PORT", "not-a-port")
    assert cli.main(["doctor"]) == 2
    assert "GRADSERVE_* variable is invalid" in capsys.readouterr().err


def test_doctor_reports_a_healthy_machine() -> None:
    out = io.StringIO()
    assert run_doctor(Settings(max_session_bytes=12345), out) == 0
    text = out.getvalue()
    assert "backend    numpy" in text
    assert "store      memory" in text
    assert "graphviz" in text
    assert "max_session_bytes = 12345 (GRADSERVE_MAX_SESSION_BYTES)" in text
    assert text.rstrip().endswith("doctor: all good")


def test_doctor_fails_on_an_unreachable_store() -> None:
    out = io.StringIO()
    store = "redis://:s3cret@127.0.0.1:1/0"  # nothing listens on port 1
    assert run_doctor(Settings(store=store), out) == 1
    text = out.getvalue()
    assert "[FAIL] store" in text and "problem: the session store is unreachable" in text
    assert "s3cret" not in text  # the password is not printed
    assert check_store("memcached://x")[0] is False


def test_doctor_warns_without_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    out = io.StringIO()
    assert run_doctor(Settings(), out) == 0  # only the SVG pictures need it: a warning
    assert "[warn] graphviz" in out.getvalue()
    assert "apt-get install graphviz" in out.getvalue()


def test_doctor_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor"]) == 0
    assert "doctor: all good" in capsys.readouterr().out


@pytest.mark.anyio
@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_json_route_without_json_content_type_is_415(sess: Sess, ctype: str | None) -> None:
    body = b'{"name": "x", "fill": "ones", "shape": [2]}'
    headers = {**sess.headers, **({"Content-Type": ctype} if ctype else {})}
    r = await sess.client.post(sess.url("/tensors"), content=body, headers=headers)
    problem = assert_problem(r, 415, "unsupported_media_type")
    assert "application/json" in problem["detail"]
    assert problem["expected"] == ["application/json", "application/*+json"]
    assert "dictionary" not in problem["detail"]  # not pydantic's message
    for path in ("/v1/grad", "/v1/sessions"):
        r = await sess.client.post(path, content=b"{}", headers=headers)
        assert_problem(r, 415, "unsupported_media_type")


@pytest.mark.anyio
async def test_json_content_types_still_work(sess: Sess, client: httpx.AsyncClient) -> None:
    body = b'{"name": "x", "fill": "ones", "shape": [2]}'
    for ctype in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        r = await sess.client.post(
            sess.url("/tensors"), content=body, headers={**sess.headers, "Content-Type": ctype}
        )
        assert r.status_code == 201, r.text
        await sess.client.delete(sess.url("/tensors/x"), headers=sess.headers)
    # a body-less POST of an optional body needs no Content-Type
    r = await client.post("/v1/sessions")
    assert r.status_code == 201, r.text
    created = r.json()
    await client.delete(
        f"/v1/sessions/{created['session_id']}",
        headers={"Authorization": f"Bearer {created['token']}"},
    )


@pytest.mark.anyio
async def test_openapi_is_counted_under_its_own_route(fresh_client: httpx.AsyncClient) -> None:
    assert (await fresh_client.get("/openapi.json")).status_code == 200
    assert (await fresh_client.get("/docs")).status_code == 200
    metrics = (await fresh_client.get("/metrics")).text
    for route in ("/openapi.json", "/docs"):
        line = f'gradserve_requests_total{{method="GET",route="{route}",status="200"}} 1.0'
        assert line in metrics, metrics
    assert 'route="unmatched"' not in metrics


def test_dev_extra_pins_torch_and_readme_says_so() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["optional-dependencies"]["dev"]
    assert any(d.startswith("graphviz") for d in project["dependencies"])
    readme = (REPO / "README.md").read_text()
    assert 'pip install -e ".[dev]" && pytest' in readme
    assert "torch==2.13.0" in readme
