"""Load a protocol from YAML, with errors that name the file, the key and the line.

The YAML text is composed into a node tree once; the data validated by pydantic is constructed
from that same tree, so every pydantic error location (``("phase1", "target")``,
``("dose_levels", 2, "doses", "donafenib")``) can be walked back through the nodes to the line
it came from. A key that is missing is reported at the line of the mapping that should hold it.
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from oncotrial.protocol.model import RULE_ERROR, Protocol

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ProtocolIssue:
    """One problem in a protocol file: where it is (file, key path, 1-based line) and what."""

    path: str
    key_path: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: "
        return f"{where}{self.key_path}: {self.message}" if self.key_path else where + self.message


class ProtocolError(ValueError):
    """A protocol file that cannot be loaded; ``issues`` lists every problem found.

    ``path``, ``key_path``, ``line`` and ``message`` are those of the first issue (the one with
    the lowest line); ``str(error)`` shows one issue per line as ``file:line: key.path: message``.
    """

    def __init__(self, issues: Sequence[ProtocolIssue]) -> None:
        if not issues:
            raise ValueError("a ProtocolError needs at least one issue")
        self.issues: tuple[ProtocolIssue, ...] = tuple(issues)
        first = self.issues[0]
        self.path: str = first.path
        self.key_path: str = first.key_path
        self.line: int = first.line
        self.message: str = first.message
        super().__init__("\n".join(str(issue) for issue in self.issues))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.issues,))


def load_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Read and validate the protocol YAML at ``path``.

    Raises :class:`ProtocolError` for YAML syntax errors and invalid content (all problems at
    once, each with its line); ``OSError`` when the file cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_protocol(text, source=str(path))


def parse_protocol(text: str, source: str = "<protocol>") -> Protocol:
    """Validate protocol YAML given as text; ``source`` names it in error messages."""
    node, data = _compose(text, source)
    issues = list(_duplicate_keys(node, (), source))
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        issues += [_issue_from_error(err, node, source) for err in exc.errors()]
    if issues:
        raise ProtocolError(sorted(issues, key=lambda issue: issue.line))
    return protocol


def _compose(text: str, source: str) -> tuple[yaml.Node, Any]:
    """The document's node tree and the plain data constructed from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ProtocolError(
                [ProtocolIssue(source, "", 1, "the file is empty; expected a protocol mapping")]
            )
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ProtocolError([_syntax_issue(exc, source)]) from None
    except yaml.YAMLError as exc:
        raise ProtocolError([ProtocolIssue(source, "", 1, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()


def _syntax_issue(exc: yaml.MarkedYAMLError, source: str) -> ProtocolIssue:
    """A YAML syntax error at the line where the parser stopped, and where the construct began."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.problem and exc.context:
        message += f" ({exc.context}"
        if exc.context_mark is not None and exc.context_mark.line + 1 != line:
            message += f" started at line {exc.context_mark.line + 1}"
        message += ")"
    return ProtocolIssue(source, "", line, message)


def _duplicate_keys(node: yaml.Node, loc: Loc, source: str) -> Iterator[ProtocolIssue]:
    """Keys given twice in one mapping (PyYAML would silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            line = key.start_mark.line + 1
            if key.value in first_line:
                yield ProtocolIssue(
                    source,
                    format_key_path((*loc, key.value)),
                    line,
                    f"duplicate key (first given at line {first_line[key.value]})",
                )
            first_line.setdefault(key.value, line)
            yield from _duplicate_keys(value, (*loc, key.value), source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, i), source)


def format_key_path(loc: Loc) -> str:
    """``("phase1", "scenarios", 0, "name")`` as ``phase1.scenarios[0].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def locate(root: yaml.Node, loc: Loc) -> tuple[Loc, int]:
    """Walk ``loc`` through the node tree: the part of it that names YAML keys, and its line.

    The line is that of the deepest key or list item found. A key absent from its mapping (a
    missing key) stays in the returned path and is reported at the mapping's line. Parts that
    pydantic adds below a scalar (the member names of a union) are dropped.
    """
    node = root
    line = root.start_mark.line + 1
    found: list[str | int] = []
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, yaml.MappingNode):
            match = next(
                (
                    (key, value)
                    for key, value in node.value
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part)
                ),
                None,
            )
            found.append(part)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode):
            found.append(part)
            if not isinstance(part, int) or not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return tuple(found), line


def _issue_from_error(err: ErrorDetails, root: yaml.Node, source: str) -> ProtocolIssue:
    """A pydantic error as a located, readable issue."""
    loc, line = locate(root, tuple(err["loc"]))
    kind = err["type"]
    if kind == "missing":
        message = "required key is missing"
    elif kind == "extra_forbidden":
        message = _unknown_key_message(loc)
    elif kind == "model_type" and _fields_at(loc):
        message = f"expected a mapping with keys {', '.join(_fields_at(loc))}"
    elif kind == RULE_ERROR:
        message = err["msg"]
    else:
        message = err["msg"]
        value = err.get("input")
        if isinstance(value, str | int | float | bool) or value is None:
            message += f" (got {value!r})"
    return ProtocolIssue(source, format_key_path(loc), line, message)


def _unknown_key_message(loc: Loc) -> str:
    """'unknown key' with the keys allowed there and the closest one."""
    allowed = _fields_at(loc[:-1])
    if not allowed:
        return "unknown key"
    near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean '{near[0]}'? " if near else ""
    return f"unknown key; {hint}allowed here: {', '.join(allowed)}"


def _fields_at(loc: Loc) -> list[str]:
    """The keys the protocol model accepts at ``loc`` (empty when not a model there)."""
    tp: Any = Protocol
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to ``X``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp
