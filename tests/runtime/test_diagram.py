"""The workflow diagram drawn from Python source (runtime/workflows/diagram.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pyflows.runtime.workflows.diagram import DiagramError, diagram_of_source, to_mermaid

SOURCE = """
import asyncio

class Flow(WorkflowEntrypoint):
    async def run(self, event, s):
        @s.do()
        async def a():
            return 1

        @s.do("b step")
        async def b():
            return 2

        @s.do(concurrent=True)
        async def both(a, ctx):
            return a

        @s.do("legacy", depends=[a, b])
        async def legacy(x, y):
            return x + y

        await both()
        await legacy()
        for i in range(3):
            @s.do(f"item-{i}")
            async def item():
                return i
            await item()
        while True:
            await s.sleep("tick", "1 second")
            break
        if event.payload.get("x"):
            await s.sleep_until("later", event.payload["when"])
        else:
            await asyncio.gather(s.sleep("p1", 1000), *[s.wait_for_event(f"w{n}", "go") for n in range(2)])
        try:
            await s.wait_for_event("approval", "approve", timeout="2 hours")
        except Exception:
            return None
        match event.payload.get("kind"):
            case "a":
                await s.sleep("case-a", 5)
"""


def flat(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for n in nodes:
        out.append(n)
        for key in ("body", "then", "else", "finally"):
            out.extend(flat(n.get(key) or []))
        for branch in n.get("branches", []):
            out.extend(flat(branch))
        for h in n.get("handlers", []) + n.get("cases", []):
            out.extend(flat(h["body"]))
    return out


def test_steps_dependencies_and_control_flow() -> None:
    nodes = diagram_of_source(SOURCE, "Flow")["nodes"]
    top = [n["type"] for n in nodes]
    assert top == [
        "StartNode", "StepDo", "StepDo", "StepDo", "StepDo", "LoopNode", "LoopNode", "IfNode", "TryNode", "SwitchNode",
    ]  # fmt: skip
    steps = {n["name"]: n for n in flat(nodes) if n["type"] == "StepDo"}
    # implicit dependency (parameter name) runs first; ctx is not a dependency
    assert [n["name"] for n in nodes[1:5]] == ["a", "both", "b step", "legacy"]
    assert steps["both"]["depends"] == ["a"] and steps["both"]["concurrent"] is True
    assert steps["legacy"]["depends"] == ["a", "b step"]  # legacy depends=[functions]
    loop = nodes[5]
    assert loop["label"] == "for i in range(3)"
    assert loop["body"][0]["name"] == "f'item-{i}'" and loop["body"][0]["computed"] is True
    assert loop["body"][0]["match"] == r"^item\-.+?$"
    assert [n["type"] for n in nodes[6]["body"]] == ["StepSleep", "BreakNode"]
    branch = nodes[7]
    assert branch["then"][0]["type"] == "StepSleepUntil"
    par = branch["else"][0]
    assert par["type"] == "ParallelNode" and par["branches"][0][0]["name"] == "p1"
    assert par["branches"][1][0]["type"] == "LoopNode"  # a comprehension in gather
    assert par["branches"][1][0]["body"][0]["type"] == "StepWaitForEvent"
    wait = nodes[8]["body"][0]
    assert (wait["event_type"], wait["timeout"]) == ("'approve'", "'2 hours'")
    assert nodes[8]["handlers"][0]["label"] == "except Exception"
    assert nodes[9]["cases"][0]["body"][0]["name"] == "case-a"


def test_mermaid_is_a_flowchart_with_every_step() -> None:
    text = to_mermaid(diagram_of_source(SOURCE, "Flow"))
    assert text.startswith("flowchart TD\n")
    for name in ("step.do a", "step.do b step", "step.do legacy", "sleep tick", "wait_for_event approval"):
        assert name in text
    assert "subgraph" in text and "#lt;" not in text


def test_names_are_escaped_in_mermaid() -> None:
    src = 'class W:\n    async def run(self, event, step):\n        await step.sleep("<b>\\"x", 1)\n'
    assert '"sleep #lt;b#gt;#quot;x · 1"' in to_mermaid(diagram_of_source(src, "W"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("class W:\n    pass\n", "no run"),
        ("class X:\n    pass\n", "no class of that name"),
        ("class W(:\n", "does not parse"),
    ],
)
def test_errors_say_what_is_wrong(source: str, message: str) -> None:
    with pytest.raises(DiagramError, match=message):
        diagram_of_source(source, "W")


def test_helpers_that_take_step_are_entered() -> None:
    src = """
class W:
    async def charge(self, s, amount):
        @s.do("charge card")
        async def charge():
            return amount
        return await charge()

    async def run(self, event, step):
        async def notify(kind):
            await step.sleep("cool-off", "1 minute")
        await self.charge(step, 10)
        await notify("done")
        await self.run(event, step)  # recursion is not followed
"""
    nodes = diagram_of_source(src, "W")["nodes"]
    assert [n["type"] for n in nodes] == ["StartNode", "FunctionCall", "FunctionCall"]
    assert nodes[1]["name"] == "self.charge" and nodes[1]["body"][0]["name"] == "charge card"
    assert nodes[2]["name"] == "notify" and nodes[2]["body"][0]["type"] == "StepSleep"
    assert "subgraph n" in to_mermaid({"nodes": nodes}) and '"self.charge()"' in to_mermaid({"nodes": nodes})
