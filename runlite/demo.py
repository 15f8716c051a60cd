"""The example data ``runlite demo`` writes: an experiment run and a small trace tree."""

from __future__ import annotations

from typing import Any


def write_demo(store: Any) -> list[str]:
    """Write the demo runs into ``store``; return one line per thing stored."""
    lines = []
    with store.init(
        "demo-training",
        metadata={"learning_rate": 0.01, "batch_size": 64, "model": {"layers": 4, "width": 256}},
        tags=["demo", "baseline"],
        description="A small example training run.",
        folder="/demo/training",
    ) as run:
        run.update_metadata({"epochs": 5})
    lines.append(f"experiment run {run.name!r} ({run.id}) in /demo/training: completed")

    with store.init("answer-question", run_type="chain", inputs={"question": "What is runlite?"},
                    folder="/demo/traces", tags=["demo"]) as root:
        retrieve = root.child("retrieve-docs", run_type="retriever", inputs={"query": "runlite"})
        retrieve.end(outputs={"documents": ["runlite keeps runs in one SQLite file."]})
        llm = root.child("chat-model", run_type="llm", inputs={"prompt": "Answer from the documents."})
        llm.end(outputs={"answer": "A library that keeps runs in one SQLite file."})
        root.end(outputs={"answer": "A library that keeps runs in one SQLite file."})
    lines.append(f"trace {root.name!r} ({root.trace_id}): 1 chain with 2 child spans (retriever, llm)")
    return lines
