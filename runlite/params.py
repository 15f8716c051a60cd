"""A run's parameters as ``runlite.config`` shows them: nested configs flattened to dotted keys,
and ``Config``, the live mapping view that writes through to the run's metadata.

Flat keys are what filters address: ``{"optimizer": {"lr": 0.1}}`` is stored as the metadata
key ``"optimizer.lr"``, which ``metadata.optimizer.lr > 0.05`` (Simvue's grammar) and
``and(eq(metadata_key, "optimizer.lr"), gt(metadata_value, 0.05))`` (LangSmith's) both reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from . import errors
from ._validation import MAX_DEPTH, check_metadata, shown


def flatten(values: Any, what: str = "config") -> dict:
    """``values`` (a dict, any Mapping, or an ``argparse.Namespace``) with nested mappings
    flattened to dotted keys, checked as metadata: numbers stay numbers (numpy and torch
    scalars become theirs), lists stay lists; NaN and infinities are refused (JSON holds none).
    An empty nested mapping is kept as the value ``{}``; two ways to one key are refused."""
    values = as_mapping(values, what)
    out: dict[str, Any] = {}
    stack = [("", iter(values.items()))]  # depth first, keys in the caller's order
    while stack:
        prefix, items = stack[-1]
        for key, value in items:
            if not isinstance(key, str):
                raise errors.ValidationError(f"keys of {what} must be str, got {type(key).__name__} {shown(key)}")
            if isinstance(value, Mapping) and value:
                if len(stack) > MAX_DEPTH:
                    raise errors.LimitError(f"{what} is nested deeper than {MAX_DEPTH} levels")
                stack.append((prefix + key + ".", iter(value.items())))
                break
            if prefix + key in out:
                raise errors.ValidationError(f"{what} gives the key {prefix + key!r} twice (once nested, once dotted)")
            out[prefix + key] = dict(value) if isinstance(value, Mapping) else value
        else:
            stack.pop()
    return check_metadata(out, what)


def as_mapping(values: Any, what: str = "config") -> Mapping:
    """A dict, any Mapping, or the attributes of an ``argparse.Namespace`` (as W&B accepts)."""
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return values
    import argparse  # noqa: PLC0415 - light, and only a caller passing one needs it
    import types  # noqa: PLC0415

    if isinstance(values, (argparse.Namespace, types.SimpleNamespace)):
        return vars(values)
    raise errors.ValidationError(
        f"{what} must be a dict (or a Mapping, or an argparse.Namespace), got {type(values).__name__} {shown(values)}")


def nested(flat: Mapping) -> dict:
    """Dotted keys back as nested dicts (``{"a.b": 1}`` -> ``{"a": {"b": 1}}``); a key under
    another key (``"a.b"`` when ``"a"`` is a key too) stays as it is."""
    keys = set(flat)
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if any(".".join(parts[:i]) in keys for i in range(1, len(parts))):
            out[key] = value
            continue
        node = out
        for part in parts[:-1]:  # no prefix of the key is a key: every node on the way is a dict
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class Config(Mapping):
    """``runlite.config``: the active run's parameters, a mapping over its metadata.

    Reads show what the file holds now (flat dotted keys; ``config["optimizer"]`` gives the
    keys under ``optimizer.`` as a nested dict when there is no key ``optimizer`` itself).
    ``config.update({...})``, ``config["lr"] = 0.1`` and ``config.lr = 0.1`` write through to
    the run's metadata at once, nested dicts flattened (``flatten``). Attributes read keys too
    (``config.lr``), as ``wandb.config`` allows.
    """

    __slots__ = ("_run",)

    def __init__(self, run: Any):
        object.__setattr__(self, "_run", run)

    def _metadata(self) -> dict:
        return self._run.record.metadata

    def __getitem__(self, key: str) -> Any:
        metadata = self._metadata()
        if key in metadata:
            return metadata[key]
        if isinstance(key, str):
            prefix = key + "."
            below = {k[len(prefix):]: v for k, v in metadata.items() if k.startswith(prefix)}
            if below:
                return nested(below)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._metadata()))

    def __len__(self) -> int:
        return len(self._metadata())

    def __contains__(self, key: object) -> bool:
        return key in self._metadata()

    def update(self, values: Any = None, allow_val_change: Any = None, **more: Any) -> None:
        """Merge ``values`` (and keyword arguments) into the run's parameters, nested mappings
        flattened; ``allow_val_change`` is accepted for W&B's sake (values may always change)."""
        flat = flatten({**as_mapping(values), **more})
        if flat:
            self._run.update_metadata(flat)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The value of ``key``; sets it to ``default`` first when the run has none."""
        if key not in self:
            self.update({key: default})
        return self[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the run's config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self.update({name: value})

    def as_dict(self, *, nest: bool = False) -> dict:
        """The parameters as a plain dict: flat dotted keys, or nested again with ``nest``."""
        metadata = dict(self._metadata())
        return nested(metadata) if nest else metadata

    def __repr__(self) -> str:
        return f"<runlite.config of run {self._run.name!r}: {shown(self._metadata(), 200)}>"
