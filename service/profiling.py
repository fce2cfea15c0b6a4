"""A graph request's ``"profile": true``: the engine's profiler around its nodes, per node.

The engine's ``torch.autograd.profiler.profile`` records the ops the nodes run (torch's event
names, ``aten::mul``); each event is tagged with the node that ran it, and each node is timed
as a whole (wall and thread CPU time), so a node that records no op of its own (a backward)
is timed too. Only a request that asks pays for it: the plain executor is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from engine.profiler import profile

from .executor import Executor, NodeLike

__all__ = ["NodeProfile", "ProfilingExecutor"]


class NodeProfile(profile):
    """The engine's profiler, noting which node of ``ex`` ran each op."""

    def __init__(self, ex: Executor) -> None:
        super().__init__(record_shapes=True)
        self.ex = ex
        self.nodes: list[int | None] = []  # per event: the node index

    def record(self, op: Any, inputs: Sequence[Any], attrs: dict[str, Any]) -> Any:
        node = self.ex.node
        try:
            return super().record(op, inputs, attrs)
        finally:
            self.nodes.extend([node] * (len(self.function_events) - len(self.nodes)))


class ProfilingExecutor(Executor):
    """An executor that times every node it runs."""

    def __init__(self, names: dict[str, Any], max_elements: int, xp: Any) -> None:
        super().__init__(names, max_elements, xp)
        self.times: list[dict[str, Any]] = []

    def _call(self, node: NodeLike) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return super()._call(node)
        finally:
            self.times.append(
                {
                    "op": node.op,
                    "wall_time_us": (time.perf_counter() - wall) * 1e6,
                    "cpu_time_us": (time.thread_time() - cpu) * 1e6,
                }
            )

    def report(self, prof: NodeProfile, ops: Sequence[NodeLike]) -> dict[str, Any]:
        """The response's ``profile``: the ops' events and the nodes' times."""
        events = []
        for e, i in zip(prof.function_events, prof.nodes, strict=True):
            events.append(
                {
                    "name": e.name,
                    "node": i,
                    "op": None if i is None else ops[i].op,
                    "start_us": e.start_us,
                    "cpu_time_us": e.cpu_time_total,
                    "input_shapes": e.input_shapes,
                }
            )
        return {"events": events, "nodes": self.times}
