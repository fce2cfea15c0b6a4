"""One client cannot take every session slot: per-client caps and rates answer 429 with
Retry-After, anonymous sessions get a bounded TTL, and API keys are told apart."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
from e2e_http import SpawnServer, assert_problem

from service.deps import key_matches


def _open(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post("/v1/sessions", json=body)


def test_a_client_holds_at_most_its_share(spawn_server: SpawnServer) -> None:
    server = spawn_server(
        env={"GRADSERVE_MAX_SESSIONS_PER_CLIENT": "5", "GRADSERVE_MAX_SESSIONS": "100"}
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = [_open(http).json() for _ in range(5)]
        r = _open(http)
        problem = assert_problem(r, 429, "too_many_requests")
        assert "maximum of 5 sessions" in problem["detail"]
        assert int(r.headers["retry-after"]) >= 1
        # deleting one gives the slot back
        first = created[0]
        headers = {"Authorization": f"Bearer {first['token']}"}
        assert (
            http.delete(f"/v1/sessions/{first['session_id']}", headers=headers).status_code == 204
        )
        assert _open(http).status_code == 201
        assert http.get("/healthz").status_code == 200


def test_session_creation_rate_per_client(spawn_server: SpawnServer) -> None:
    server = spawn_server(
        env={
            "GRADSERVE_SESSIONS_PER_CLIENT_PER_MINUTE": "60",
            "GRADSERVE_SESSION_BURST_PER_CLIENT": "3",
        }
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(3):
            assert _open(http).status_code == 201
        r = _open(http)
        problem = assert_problem(r, 429, "too_many_requests")
        assert "faster than 60 a minute" in problem["detail"]
        assert 1 <= int(r.headers["retry-after"]) <= 2
        time.sleep(1.2)  # one token a second comes back
        assert _open(http).status_code == 201


def test_anonymous_sessions_get_the_anonymous_ttl(spawn_server: SpawnServer) -> None:
    server = spawn_server(env={"GRADSERVE_MAX_ANONYMOUS_TTL_SECONDS": "600"})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        before = time.time()
        body = _open(http, ttl_seconds=86400).json()
        expires = datetime.fromisoformat(body["expires_at"]).timestamp()
        assert before + 590 <= expires <= time.time() + 610


def test_api_key_clients_are_counted_apart(spawn_server: SpawnServer) -> None:
    server = spawn_server(
        env={
            "GRADSERVE_API_KEYS": "alpha,beta",
            "GRADSERVE_MAX_SESSIONS_PER_CLIENT": "2",
            "GRADSERVE_MAX_ANONYMOUS_TTL_SECONDS": "600",
        }
    )
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for key in ("alpha", "beta"):
            for _ in range(2):
                r = http.post(
                    "/v1/sessions", json={"ttl_seconds": 7200}, headers={"X-API-Key": key}
                )
                assert r.status_code == 201, r.text
                # a keyed client is not anonymous: its TTL is its own (up to max_ttl_seconds)
                expires = datetime.fromisoformat(r.json()["expires_at"]).timestamp()
                assert expires > time.time() + 7000
        r = http.post("/v1/sessions", headers={"X-API-Key": "alpha"})
        assert_problem(r, 429, "too_many_requests")
        r = http.post("/v1/sessions", headers={"X-API-Key": "gamma"})
        assert_problem(r, 401, "unauthorized")


def test_api_keys_compare_every_key() -> None:
    keys = ["alpha", "beta"]
    assert key_matches("beta", keys) and key_matches("alpha", keys)
    assert not key_matches("alph", keys) and not key_matches(None, keys)
    assert not key_matches("", keys) and not key_matches("betaa", keys)
