"""The scaled-out topology: docker-compose.yml (Redis, 3 replicas, nginx) and deploy/nginx.conf.

No Docker engine is needed. The compose file is read with PyYAML and the nginx config
with a small tokenizer, and their pieces are checked against each other and against
``service.settings.Settings``. Where Debian's nginx is installed (``apt-get install
nginx-light``), ``nginx -t`` checks the config, and nginx runs it here in front of three
real ``gradserve serve`` replicas sharing a ``redis-server`` (the compose topology on
loopback: the replica host names mapped to 127.0.0.1 ports), so round robin, shared
sessions, X-Request-ID and nginx's own error answers are tested live.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from _kit.redis import RedisServer, redis_binary
from _kit.server import ServerProcess, free_port

from bench.common import TUTORIAL_GRAPH, Process
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
DOCKERFILE = ROOT / "Dockerfile"
SETTINGS_FIELDS = set(Settings.model_fields)
# the service's accepted request ids (service/observability.py)
RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# --- the compose file ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


def builds_gradserve(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if build is None:
        return False
    if isinstance(build, str):
        build = {"context": build}
    context = (COMPOSE.parent / build.get("context", ".")).resolve()
    return (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if builds_gradserve(s)}


def image_of(compose: dict[str, Any], repo: str) -> tuple[str, dict[str, Any]]:
    found = [
        (n, s)
        for n, s in compose["services"].items()
        if str(s.get("image", "")).split(":")[0].split("@")[0] in (repo, f"library/{repo}")
    ]
    assert len(found) == 1, f"expected one service running the {repo} image, got {found}"
    return found[0]


def assert_pinned(image: str) -> None:
    _, _, tag = image.partition(":")
    tag = tag.split("@")[0]
    assert tag and tag != "latest", f"{image} is not pinned to a tag"
    assert re.match(r"\d+\.\d+", tag), f"{image}: pin a version (x.y[.z]), not {tag!r}"


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def as_list(command: Any) -> list[str]:
    return [str(w) for w in command] if isinstance(command, list) else str(command).split()


def published_ports(service: dict[str, Any]) -> set[int]:
    """Container ports the service publishes on the host."""
    out = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.add(int(port["target"]))
        else:
            out.add(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    return out


def host_ports(service: dict[str, Any]) -> set[int]:
    out: set[int] = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.add(int(str(port.get("published", port["target"]))))
        else:
            parts = str(port).split("/")[0].split(":")
            out.add(int(parts[-2] if len(parts) > 1 else parts[-1]))
    return out


def depends_healthy(service: dict[str, Any], name: str) -> bool:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return False  # the short form only waits for the container to start
    return bool(deps.get(name, {}).get("condition") == "service_healthy")


def test_redis_has_a_volume_appendonly_and_a_healthcheck(compose: dict[str, Any]) -> None:
    name, redis = image_of(compose, "redis")
    assert_pinned(redis["image"])
    command = as_list(redis.get("command", []))
    assert command[:1] == ["redis-server"], command
    assert "--appendonly" in command and command[command.index("--appendonly") + 1] == "yes"

    volumes = compose.get("volumes") or {}
    mounts = [v if isinstance(v, dict) else None for v in redis.get("volumes", [])]
    named = []
    for raw, mount in zip(redis.get("volumes", []), mounts, strict=True):
        if mount is None:
            source, _, target = str(raw).partition(":")
            target = target.split(":")[0]
        else:
            source, target = mount.get("source", ""), mount.get("target", "")
        if source in volumes and target == "/data":
            named.append(source)
    assert named, f"redis keeps /data on no named volume: {redis.get('volumes')}"

    test = as_list(redis["healthcheck"]["test"])
    assert test[0] in ("CMD", "CMD-SHELL") and "redis-cli" in " ".join(test)
    assert "ping" in [w.lower() for w in test], test
    assert not redis.get("ports"), f"{name} must not publish a host port"


def test_exactly_three_replicas_on_the_redis_store(compose: dict[str, Any]) -> None:
    redis_name, _ = image_of(compose, "redis")
    reps = replicas(compose)
    assert len(reps) == 3, f"expected three gradserve replicas, got {sorted(reps)}"
    for name, service in reps.items():
        assert "deploy" not in service or service["deploy"].get("replicas", 1) == 1, name
        url = urlsplit(environment(service).get("GRADSERVE_STORE", "memory"))
        assert url.scheme == "redis", f"{name}: GRADSERVE_STORE is not a redis:// URL"
        assert url.hostname == redis_name, f"{name}: the store is not the {redis_name} service"
        assert (url.port or 6379) == 6379
        assert url.path.strip("/").isdigit(), f"{name}: name a database (redis://host:port/0)"
        assert depends_healthy(service, redis_name), f"{name} must wait for redis to be healthy"
        assert not service.get("ports"), f"{name} publishes a port: only the LB may"
    # one definition (a YAML anchor): every replica is configured identically
    first = next(iter(reps.values()))
    assert all(s == first for s in reps.values()), "the replicas differ"


def test_replica_healthcheck_hits_healthz(compose: dict[str, Any]) -> None:
    for name, service in replicas(compose).items():
        test = service["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] == "CMD", f"{name}: use the exec form"
        assert any("/healthz" in a and "127.0.0.1:8000/" in a for a in test[1:]), test
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name


def test_every_gradserve_variable_is_a_setting(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = 0
    for name, service in compose["services"].items():
        env = {k: v for k, v in environment(service).items() if k.startswith("GRADSERVE_")}
        for key in env:
            field_name = key.removeprefix("GRADSERVE_").lower()
            assert field_name in SETTINGS_FIELDS, f"{name}: {key} is not a Settings field"
        for key in list(os.environ):
            if key.startswith("GRADSERVE_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        loaded = Settings()  # each value parses as the service would parse it
        for key, value in env.items():
            got = getattr(loaded, key.removeprefix("GRADSERVE_").lower())
            assert str(got) == value or got == type(got)(value), (key, value, got)
        seen += len(env)
    assert seen, "no GRADSERVE_ variable anywhere"


def test_the_lb_publishes_8000_and_mounts_the_nginx_config(compose: dict[str, Any]) -> None:
    name, lb = image_of(compose, "nginx")
    assert_pinned(lb["image"])
    assert published_ports(lb) == {8000} and host_ports(lb) == {8000}
    publishing = sorted(n for n, s in compose["services"].items() if s.get("ports"))
    assert publishing == [name], f"only the LB may publish a port: {publishing}"

    mounted = False
    for volume in lb.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume.get("target", "")
            ro = bool(volume.get("read_only"))
        else:
            source, target, *mode = str(volume).split(":")
            ro = "ro" in (mode[0].split(",") if mode else [])
        if (COMPOSE.parent / source).resolve() == NGINX_CONF:
            assert target == "/etc/nginx/nginx.conf", target
            assert ro, "mount deploy/nginx.conf read-only"
            mounted = True
    assert mounted, "deploy/nginx.conf is not mounted into the LB"
    for replica in replicas(compose):
        assert depends_healthy(lb, replica), f"the LB should wait for {replica}"
    assert lb.get("healthcheck"), "the LB has no healthcheck"


# --- deploy/nginx.conf -----------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None
    children: list[Directive] = field(default_factory=list)

    def find(self, name: str) -> list[Directive]:
        return [d for d in self.children if d.name == name]

    def walk(self) -> Iterator[Directive]:
        for d in self.children:
            yield d
            yield from d.walk()


_TOKEN = re.compile(
    r"""\s+|#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)"""
)


def tokens(text: str) -> Iterator[str]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m, f"nginx.conf: cannot read at {text[pos : pos + 30]!r}"
        pos = m.end()
        single, double, punct, word = m.groups()
        if single is not None:
            yield single
        elif double is not None:
            yield double
        elif punct is not None:
            yield punct
        elif word is not None:
            yield word


def parse_nginx(text: str) -> Directive:
    root = Directive("main", [])
    stack = [root]
    current: list[str] = []
    for tok in tokens(text):
        if tok == ";":
            assert current, "an empty directive"
            stack[-1].children.append(Directive(current[0], current[1:]))
            current = []
        elif tok == "{":
            assert current, "a block without a name"
            block = Directive(current[0], current[1:])
            stack[-1].children.append(block)
            stack.append(block)
            current = []
        elif tok == "}":
            assert not current and len(stack) > 1, "unbalanced braces"
            stack.pop()
        else:
            current.append(tok)
    assert len(stack) == 1 and not current, "nginx.conf ends inside a block or a directive"
    return root


def nginx_size(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert m, value
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


@pytest.fixture(scope="module")
def conf() -> Directive:
    return parse_nginx(NGINX_CONF.read_text())


def the_server(conf: Directive) -> Directive:
    (http,) = conf.find("http")
    servers = http.find("server")
    assert len(servers) == 1
    return servers[0]


def location(server: Directive, *args: str) -> Directive:
    hits = [d for d in server.find("location") if d.args == list(args)]
    assert len(hits) == 1, f"no location {' '.join(args)}"
    return hits[0]


def test_nginx_config_is_a_whole_main_config(conf: Directive) -> None:
    assert conf.find("events") and conf.find("http")  # nginx -c needs both
    assert [d.args for d in the_server(conf).find("listen")] == [["8000"]]


def test_upstream_is_exactly_the_three_replicas(conf: Directive, compose: dict[str, Any]) -> None:
    (http,) = conf.find("http")
    (upstream,) = http.find("upstream")
    servers = [d.args[0] for d in upstream.find("server")]
    assert sorted(servers) == sorted(f"{r}:8000" for r in replicas(compose))
    root = location(the_server(conf), "/")
    assert [d.args for d in root.find("proxy_pass")] == [[f"http://{upstream.args[0]}"]]
    # keep-alive to the replicas needs HTTP/1.1 and an empty Connection header
    assert [d.args for d in root.find("proxy_http_version")] == [["1.1"]]
    headers = {d.args[0].lower(): d.args[1:] for d in root.find("proxy_set_header")}
    assert headers.get("connection") == [""]


def test_failover_never_resends_a_mutation(conf: Directive) -> None:
    root = location(the_server(conf), "/")
    for d in root.find("proxy_next_upstream"):
        # a POST that reached a replica may have changed its session: never replay it;
        # a replica's 503 (a busy session) is an answer, not a dead replica
        assert "non_idempotent" not in d.args and "http_503" not in d.args, d.args
    assert not root.find("proxy_intercept_errors"), "the service's problem+json must pass"


def test_body_limit_matches_the_service(conf: Directive) -> None:
    sizes = [d for d in conf.walk() if d.name == "client_max_body_size"]
    assert len(sizes) == 1, "one client_max_body_size"
    limit = nginx_size(sizes[0].args[0])
    default = Settings().max_body_bytes
    assert limit >= default, f"nginx refuses bodies the service accepts ({limit} < {default})"
    assert limit == Settings.model_fields["max_body_bytes"].default, "keep the two equal"


def test_request_id_and_proxy_headers_are_forwarded(conf: Directive) -> None:
    root = location(the_server(conf), "/")
    headers = {d.args[0].lower(): d.args[1:] for d in root.find("proxy_set_header")}
    for needed in ("host", "x-forwarded-for", "x-forwarded-proto", "x-real-ip"):
        assert needed in headers, f"proxy_set_header {needed} missing"
    assert headers["x-forwarded-for"] == ["$proxy_add_x_forwarded_for"]
    rid = headers.get("x-request-id")
    assert rid, "X-Request-ID is not forwarded"
    variable = rid[0]
    if variable != "$http_x_request_id":  # a map from the client's header, else nginx's id
        (http,) = conf.find("http")
        maps = [m for m in http.find("map") if m.args[1:] == [variable]]
        assert maps and maps[0].args[0] == "$http_x_request_id", variable
        assert any("$http_x_request_id" in d.args for d in maps[0].children)
        assert any("$request_id" in d.args for d in maps[0].children)


def test_timeouts_are_set(conf: Directive) -> None:
    root = location(the_server(conf), "/")
    for name in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout"):
        (d,) = root.find(name)
        seconds = int(d.args[0].rstrip("s"))
        assert 1 <= seconds <= 600, (name, seconds)
    # a read timeout above the service's wait for a busy session's lock (60 s)
    assert int(root.find("proxy_read_timeout")[0].args[0].rstrip("s")) > 60


def test_lb_health_route_matches_its_healthcheck(conf: Directive, compose: dict[str, Any]) -> None:
    _, lb = image_of(compose, "nginx")
    test = " ".join(as_list(lb["healthcheck"]["test"]))
    m = re.search(r"127\.0\.0\.1:8000(/[\w./-]*)", test)
    assert m, test
    route = location(the_server(conf), "=", m.group(1))
    (ret,) = route.find("return")
    assert ret.args[0] == "200"
    assert not route.find("proxy_pass"), "the LB's own health must not depend on a replica"


# --- nginx -t and a live run --------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.skip("nginx is not installed (Debian: apt-get install -y nginx-light)")
    return found


def localized(text: str, tmp: Path, listen: int, upstreams: dict[str, int]) -> str:
    """The config made runnable here: replica hosts on 127.0.0.1 ports, paths under ``tmp``."""
    for host, port in upstreams.items():
        text, n = re.subn(rf"\b{re.escape(host)}:8000\b", f"127.0.0.1:{port}", text)
        assert n == 1, host
    text, n = re.subn(r"\blisten\s+8000\s*;", f"listen 127.0.0.1:{listen};", text)
    assert n == 1
    text = re.sub(r"^\s*user\s+[^;]+;", "", text, flags=re.M)  # no nginx user here
    text = re.sub(r"/var/log/nginx/", f"{tmp}/", text)
    text = re.sub(r"^pid\s+[^;]+;", f"pid {tmp}/nginx.pid;", text, flags=re.M)
    temps = "".join(
        f"    {kind}_temp_path {tmp}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return text.replace("http {\n", "http {\n" + temps, 1)


def nginx_test(conf_file: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_nginx_t_accepts_the_config(compose: dict[str, Any], tmp_path: Path) -> None:
    nginx_binary()
    hosts = {name: free_port() for name in replicas(compose)}
    conf_file = tmp_path / "nginx.conf"
    conf_file.write_text(localized(NGINX_CONF.read_text(), tmp_path, free_port(), hosts))
    result = nginx_test(conf_file, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_nginx_t_really_checks(tmp_path: Path) -> None:
    """The same call refuses a broken config, so a pass above means something."""
    nginx_binary()
    conf_file = tmp_path / "nginx.conf"
    conf_file.write_text("events {}\nhttp { server { listen 1; proxy_pass_nope x; } }\n")
    assert nginx_test(conf_file, tmp_path).returncode != 0


@dataclass
class Stack:
    url: str
    replicas: dict[str, str]  # compose name -> its local URL
    dead_url: str  # the same config with no replica listening


@pytest.fixture(scope="module")
def stack(compose: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """redis-server, three ``gradserve serve`` on it, nginx with deploy/nginx.conf in front."""
    nginx = nginx_binary()
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install -y redis-server)")
    tmp = tmp_path_factory.mktemp("stack")
    redis_server = RedisServer(binary)
    procs: list[Process] = []
    try:
        env = {"GRADSERVE_STORE": f"{redis_server.url}/0"}
        ports: dict[str, int] = {}
        for name in replicas(compose):
            replica = ServerProcess(env=env, ready_path="/readyz")
            procs.append(replica.launch())
            ports[name] = replica.port
        for replica in procs:
            replica.wait_http(timeout=60)

        urls = {}
        for label, upstreams in (("live", ports), ("dead", {n: free_port() for n in ports})):
            ctmp = tmp / label
            ctmp.mkdir()

            def argv(listen: int, ctmp: Path = ctmp, upstreams: dict[str, int] = upstreams):
                conf_file = ctmp / "nginx.conf"
                conf_file.write_text(localized(NGINX_CONF.read_text(), ctmp, listen, upstreams))
                return [nginx, "-p", str(ctmp), "-e", str(ctmp / "error.log")] + [
                    "-c",
                    str(conf_file),
                    "-g",
                    "daemon off;",
                ]

            lb = Process(
                argv, name=f"nginx ({label})", env=dict(os.environ), ready_path="/lb-healthz"
            )
            procs.append(lb.start(timeout=60))
            urls[label] = lb.url
        yield Stack(
            urls["live"], {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}, urls["dead"]
        )
    finally:
        for proc in procs[::-1]:
            proc.close()
        redis_server.stop()


def graph_requests(metrics_text: str) -> int:
    total = 0
    for line in metrics_text.splitlines():
        if (
            line.startswith("gradserve_requests_total{")
            and 'route="/v1/sessions/{session_id}/graph"' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_live_sessions_are_shared_across_replicas_behind_nginx(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        assert c.get("/healthz").json() == {"status": "ok"}  # proxied to a replica
        created = c.post("/v1/sessions").json()
        auth = {"Authorization": f"Bearer {created['token']}"}
        s = f"/v1/sessions/{created['session_id']}"
        body = {"name": "x", "fill": "ones", "shape": [2, 2], "requires_grad": True}
        assert c.post(f"{s}/tensors", json=body, headers=auth).status_code in (200, 201)
        graph = TUTORIAL_GRAPH
        for _ in range(6):  # round robin: every replica serves this session
            r = c.post(f"{s}/graph", json=graph, headers=auth)
            assert r.status_code == 200, r.text
            assert r.json()["tensors"]["out"]["data"]["data"] == 27.0
        r = c.post(f"{s}/backward", json={"tensor": "out"}, headers=auth)
        assert r.status_code == 200, r.text
        assert c.get(f"{s}/tensors/x/grad", headers=auth).json()["data"] == [[4.5, 4.5]] * 2
        assert c.delete(s, headers=auth).status_code in (200, 204)
    served = {n: graph_requests(httpx.get(f"{u}/metrics").text) for n, u in stack.replicas.items()}
    assert all(v >= 1 for v in served.values()), f"a replica got no graph request: {served}"
    assert sum(served.values()) >= 6


def test_live_request_id_passes_through(stack: Stack) -> None:
    r = httpx.get(f"{stack.url}/healthz", headers={"X-Request-ID": "abc-123.x:y"})
    assert r.headers["x-request-id"] == "abc-123.x:y"  # the replica got the client's id
    r = httpx.get(f"{stack.url}/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])  # nginx's $request_id
    # one the service would refuse is replaced by nginx's, never forwarded as is
    r = httpx.get(f"{stack.url}/healthz", headers={"X-Request-ID": 'a"b'})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


def test_live_nginx_refuses_a_too_large_body_as_problem_json(stack: Stack) -> None:
    port = int(stack.url.rsplit(":", 1)[1])
    too_big = Settings().max_body_bytes + 1
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: lb\r\nX-Request-ID: big-1\r\n"
            + f"Content-Type: application/json\r\nContent-Length: {too_big}\r\n\r\n".encode()
        )
        sock.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"413", head
    assert b"application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["code"] == "payload_too_large" and problem["request_id"] == "big-1"


def test_live_no_replica_is_a_503_problem(stack: Stack) -> None:
    r = httpx.post(f"{stack.dead_url}/v1/sessions", headers={"X-Request-ID": "dead-1"}, timeout=30)
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "upstream_unavailable"
    assert r.json()["request_id"] == "dead-1" == r.headers["x-request-id"]
