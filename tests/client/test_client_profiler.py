"""``torch.autograd.profiler`` through the client: the server's per-op times, as the engine's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import engine
from client import RemoteTorch


def _work(t: Any, create_graph: bool = False) -> Callable[[], None]:
    def run() -> None:
        x = t.ones(3, 4, requires_grad=True)
        w = t.ones(4, 2, requires_grad=True)
        y = (x * 2).exp() @ w
        y.relu().sum().backward(create_graph=create_graph)

    return run


def _op_names(t: Any, create_graph: bool = False, **kw: Any) -> tuple[set[str], Any]:
    run = _work(t, create_graph)
    run()  # warm: the same ops, outside the profile
    with t.autograd.profiler.profile(**kw) as prof:
        run()
    return {e.name for e in prof.function_events}, prof


def test_profile_records_the_ops_the_engine_does(torch: RemoteTorch) -> None:
    remote, prof = _op_names(torch)
    local, _ = _op_names(engine)
    assert remote == local
    assert {"aten::mul", "aten::exp", "aten::matmul", "aten::sum"} <= remote
    assert all(e.cpu_time_total >= 0 for e in prof.function_events)
    table = prof.key_averages().table(sort_by="self_cpu_time_total")
    lines = table.splitlines()
    assert lines[1].split()[:3] == ["Name", "Self", "CPU"]
    assert lines[-1].startswith("Self CPU time total: ")
    assert {ln.split()[0] for ln in lines[3:-2]} == remote  # a row per op name
    assert str(prof) == prof.table()


def test_backward_with_create_graph_records_its_ops_as_the_engine_does(
    torch: RemoteTorch,
) -> None:
    remote, prof = _op_names(torch, create_graph=True)
    local, _ = _op_names(engine, create_graph=True)
    assert remote == local
    assert len(prof.function_events) > 4  # the gradient ops too
    assert [n["op"] for n in prof.nodes][-1] == "autograd.backward"


def test_profile_counts_only_the_block_and_flushes_at_exit(torch: RemoteTorch) -> None:
    x = torch.ones(3, requires_grad=True)
    before = (x + 1).sum()  # pending when the block opens: sent, not counted
    requests = torch._conn.requests
    with torch.autograd.profiler.profile(use_cuda=False, record_shapes=True) as prof:
        assert torch._conn.requests == requests + 1  # what was pending, sent on entering
        y = (x * 2).sum()
        y.backward()
        assert prof.function_events == []  # deferred: nothing ran yet
    assert torch._conn.requests == requests + 2  # the block's nodes: one request at exit
    assert [(e.name, e.input_shapes) for e in prof.function_events] == [
        ("aten::mul", [[3], []]),
        ("aten::sum", [[3]]),
    ]
    assert [n["op"] for n in prof.nodes] == ["mul", "sum", "autograd.backward"]
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    assert before.item() == 6.0
    # after the block, requests carry no profile
    z = (x * 3).sum()
    assert z.item() == 9.0
    assert len(prof.function_events) == 2


def test_shapes_only_when_asked_and_key_averages_counts(torch: RemoteTorch) -> None:
    x = torch.ones(2)
    with torch.autograd.profiler.profile() as prof:
        for _ in range(3):
            x = x * 2
    assert x.tolist() == [8.0, 8.0]
    assert [e.input_shapes for e in prof.function_events] == [[], [], []]
    (avg,) = prof.key_averages()
    assert (avg.key, avg.count) == ("aten::mul", 3)


def test_disabled_profile_and_record_function(torch: RemoteTorch) -> None:
    x = torch.ones(2)
    with torch.autograd.profiler.profile(enabled=False) as prof:
        (x * 2).tolist()
    assert prof.function_events == []
    with torch.autograd.profiler.profile() as prof:
        with torch.autograd.profiler.record_function("step"):
            y = x.exp()
        y.tolist()
    assert [e.name for e in prof.function_events] == ["aten::exp", "step"]
    with torch.autograd.profiler.record_function("outside"):  # no profile: a no-op
        assert (x + 1).tolist() == [2.0, 2.0]


def test_torch_keywords(torch: RemoteTorch) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        torch.autograd.profiler.profile(bogus=True)
