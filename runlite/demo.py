"""The example data ``runlite demo`` writes: an experiment run and a small trace tree."""

from __future__ import annotations

import json
import math
from typing import Any


def write_demo(store: Any) -> list[str]:
    """Write the demo runs into ``store``; return one line per thing stored."""
    lines = []
    config = {"learning_rate": 0.01, "batch_size": 64, "model": {"layers": 4, "width": 256}}
    with store.init("demo-training", metadata=config, tags=["demo", "baseline"],
                    description="A small example training run.", folder="/demo/training") as run:
        run.create_metric_threshold_alert("loss-diverged", "train/loss", 5.0, "is above", window=2)
        run.attach("config.json", json.dumps(config).encode(), "application/json")
        for step in range(500):
            loss = 2.0 * math.exp(-step / 120) + 0.1 + 0.03 * math.sin(step / 5)
            run.log_metrics({"train/loss": loss, "train/accuracy": 1 - loss / 2.2}, time=step * 0.1)
            if step % 100 == 0:
                run.log_event(f"epoch {step // 100} started")
        run.update_metadata({"epochs": 5})
    summary = store.metric_summary(run.id, "train/loss")
    lines.append(f"experiment run {run.name!r} ({run.id}) in /demo/training: completed")
    lines.append(f"  metrics train/loss, train/accuracy: {summary.count} points each, "
                 f"loss {summary.first:.3f} -> {summary.last:.3f} (min {summary.min:.3f} at step {summary.min_step})")
    lines.append(f"  {len(store.events(run.id))} events, 1 attachment (config.json), alert 'loss-diverged': "
                 f"{store.alerts(run.id)[0].state}")

    with store.init("answer-question", run_type="chain", inputs={"question": "What is runlite?"},
                    folder="/demo/traces", tags=["demo"]) as root:
        retrieve = root.child("retrieve-docs", run_type="retriever", inputs={"query": "runlite"})
        retrieve.end(outputs={"documents": ["runlite keeps runs in one SQLite file."]})
        llm = root.child("chat-model", run_type="llm", inputs={"prompt": "Answer from the documents."})
        llm.add_event("new_token", token="A")
        llm.end(outputs={"answer": "A library that keeps runs in one SQLite file."})
        root.end(outputs={"answer": "A library that keeps runs in one SQLite file."})
    lines.append(f"trace {root.name!r} ({root.trace_id}): 1 chain with 2 child spans (retriever, llm)")
    return lines
