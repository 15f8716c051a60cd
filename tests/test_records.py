"""Records: LangSmith + Simvue fields in to_dict(), round trips through the store (Hypothesis)."""

import json
import math
import re

import pytest
from hypothesis import given, settings, strategies as st

import runlite
from runlite.records import LANGSMITH_FIELDS, SIMVUE_FIELDS, RunRecord

from . import strategies as S

SEED = "../shared/seeds/001_15a6699c46e9688d.txt"


def _seed_fields():
    import os

    path = os.path.join(os.path.dirname(__file__), "..", SEED)
    if not os.path.exists(path):
        return None
    text = open(path, encoding="utf-8").read()
    block = text.split("interface Run {")[1].split("}")[0]
    return re.findall(r"^\s*(\w+)\??:", block, re.M)


def test_langsmith_field_list_matches_the_seed():
    fields = _seed_fields()
    if fields is None:  # the seeds travel beside the project, not inside it
        fields = list(LANGSMITH_FIELDS)
    assert sorted(fields) == sorted(LANGSMITH_FIELDS)


def test_to_dict_has_every_field(mem):
    root = mem.init("root", run_type="chain")
    child = root.child("c", run_type="llm", inputs={"q": 1})
    child.end(outputs={"a": 2})
    data = mem.get_run(child.id).to_dict()
    for field in LANGSMITH_FIELDS + SIMVUE_FIELDS:
        assert field in data, field
    assert data["parent_run_ids"] == [root.id]
    assert data["extra"]["metadata"] == {}
    assert isinstance(data["start_time"], float) and data["end_time"] >= data["start_time"]
    json.dumps(data, allow_nan=False)  # JSON-ready


@settings(max_examples=40)
@given(name=S.name_text, metadata=S.metadata, tags=S.tags, folder=S.folder,
       description=st.none() | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=50))
def test_store_round_trip(name, metadata, tags, folder, description):
    with runlite.open(":memory:") as s:
        run = s.init(name, metadata=metadata, tags=tags, folder=folder, description=description)
        rec = s.get_run(run.id)
        assert rec.name == name
        assert rec.metadata == metadata
        assert list(rec.tags) == tags
        assert rec.folder == (folder if folder == "/" else folder.rstrip("/"))
        assert rec.description == description
        assert RunRecord.from_dict(rec.to_dict()) == rec
        assert RunRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


_RUN = {"id": "00000000-0000-0000-0000-000000000001", "name": "n", "run_type": "chain", "status": "success"}


@pytest.mark.parametrize("data", [
    None, [], {}, {"id": "x"}, {**_RUN, "tags": math.nan}, {**_RUN, "extra": ["a"]}, {**_RUN, "created": 1.5},
    {**_RUN, "created": ""}, {**_RUN, "first_token_time": math.inf}, {**_RUN, "first_token_time": "soon"},
    {**_RUN, "attachments": math.nan}, {**_RUN, "events": 3}, {**_RUN, "child_runs": "abc"},
    {**_RUN, "child_runs": [{"name": "no id"}]},
], ids=["none", "list", "empty", "no-name", "tags", "extra", "created-float", "created-blank", "ttft-inf",
        "ttft-text", "attachments", "events", "children-text", "child-no-id"])
def test_from_dict_refuses_another_shape_with_a_validation_error(data):
    with pytest.raises(runlite.ValidationError, match="to_dict"):
        RunRecord.from_dict(data)


def test_from_dict_refuses_a_cycle():
    root = {**_RUN, "child_runs": []}
    root["child_runs"].append(root)
    with pytest.raises(ValueError, match="a cycle"):  # a ValidationError, which is a ValueError
        RunRecord.from_dict(root)
    assert RunRecord.from_dict({**_RUN, "child_runs": [{**_RUN, "name": "kid"}]}).child_runs[0].name == "kid"


def test_records_are_frozen(mem):
    rec = mem.get_run(mem.init("x").id)
    try:
        rec.name = "y"
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("RunRecord must be frozen")
