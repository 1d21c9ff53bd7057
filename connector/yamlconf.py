"""Load a YAML file into a msgspec Struct, with errors that say file:line and field.

msgspec reports a bad value by its path (``$.rules[2].when.value``); YAML's node
tree knows the line of every node. Joining the two gives the admin
``rules/routing.yaml:41: rules[2].when.value: Expected `int`, got `str```.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import msgspec
import yaml

from connector.errors import ConfigError

T = TypeVar("T")

_PATH_RE = re.compile(r" - at `(\$[^`]*)`$")
# "[" is not part of a bracketed key: with it, each "[" of a run without "]" scanned the whole run (quadratic)
_STEP_RE = re.compile(r"\.([A-Za-z_0-9\-]+)|\[(\d+)\]|\[\"?([^\[\]\"]+)\"?\]")
_UNKNOWN_RE = re.compile(r"unknown field `([^`]+)`")


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for key, index, quoted in _STEP_RE.findall(path[1:]):
        if index:
            steps.append(int(index))
        else:
            steps.append(key or quoted)
    return steps


def _node_line(root: yaml.Node | None, steps: list[str | int], unknown: str | None) -> int | None:
    """Line (1-based) of the deepest YAML node the path reaches."""
    node = root
    if node is None:
        return None
    line = node.start_mark.line + 1
    for step in [*steps, *([unknown] if unknown else [])]:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(k.value) == str(step):
                    # an unknown key is best shown at the key itself
                    child = k if step == unknown else v
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            child = node.value[step]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


MAX_CHARS = 256_000  # a config file people write is a few KB; the shipped ones are under 10 KB
MAX_DEPTH = 32  # the shipped files nest 9 levels at most
MAX_NODES = 100_000  # scalars, lists and mappings in one text


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that checks each parser event before the composer builds anything from it.

    An anchor or alias is refused outright: aliases let a few KB expand into gigabytes once the shared nodes are
    copied (a JSON answer, a lead's ``extra``), and no file we ship uses them. Depth is checked per event so a
    file of 5,000 ``[`` is a ConfigError at its line, not the composer's RecursionError.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._nodes = 0

    def get_event(self) -> yaml.Event:
        event: yaml.Event = super().get_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused("YAML anchors and aliases (&name, *name) are not read; write the value out", event)
        if isinstance(event, yaml.CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event)
        elif isinstance(event, yaml.CollectionEndEvent):
            self._depth -= 1
        if isinstance(event, yaml.NodeEvent):
            self._nodes += 1
            if self._nodes > MAX_NODES:
                raise _Refused(f"more than {MAX_NODES} values in one file", event)
        return event


class _Refused(Exception):
    def __init__(self, reason: str, event: yaml.Event) -> None:
        super().__init__(reason)
        self.reason, self.line = reason, (event.start_mark.line + 1 if event.start_mark else None)


def safe_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text once: (data, its node tree for line numbers). ConfigError with the line for a syntax error,
    an anchor or alias, nesting deeper than MAX_DEPTH, more than MAX_NODES values or more than MAX_CHARS."""
    if len(text) > MAX_CHARS:
        raise ConfigError(f"the file is {len(text)} characters; at most {MAX_CHARS} are read", file=file)
    try:
        loader = _GuardedLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character: refused before any parsing
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"invalid YAML: the character {chr(exc.character)!r} is not allowed", file=file,
                          line=line) from None
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except _Refused as exc:
        raise ConfigError(exc.reason, file=file, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=file,
                          line=mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()


def convert(data: Any, type_: type[T], *, file: str, root: yaml.Node | None = None) -> T:
    """Validate already-parsed data against a Struct type; errors carry file:line and field."""
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _PATH_RE.search(text)
        path = m.group(1) if m else "$"
        reason = text[: m.start()] if m else text
        steps = _steps(path)
        u = _UNKNOWN_RE.search(reason)
        unknown = u.group(1) if u else None
        field = path[2:] if len(path) > 1 else "(top level)"
        if path.startswith("$.") is False and path.startswith("$["):
            field = path[1:]
        if unknown:
            field = f"{field}.{unknown}" if len(path) > 1 else unknown
        line = _node_line(root, steps, unknown)
        raise ConfigError(reason, file=file, line=line, field=field) from exc


class Where:
    """Where a loaded file's values came from, for the checks made after conversion (names, cross-references)."""

    __slots__ = ("file", "root")

    def __init__(self, file: str, root: yaml.Node | None) -> None:
        self.file, self.root = file, root

    def fail(self, path: str, message: str) -> NoReturn:
        """Raise a ConfigError at ``path`` (``rules[2].when``; "" for the file as a whole) with its line."""
        raise ConfigError(message, file=self.file, line=line_at(self.root, path), field=path or "(top level)")


Check = Callable[[T, Where], None]


def from_text(text: str, type_: type[T], *, file: str, check: Check[T] | None = None) -> T:
    """Parse YAML ``text``, convert it to ``type_``, then run ``check``; ConfigError naming file, line and field.

    An empty file reads as ``{}``. The one path every config file is loaded by (``load_yaml`` reads the file).
    """
    data, root = safe_yaml(text, file)
    value = convert(data if data is not None else {}, type_, file=file, root=root)
    if check is not None:
        check(value, Where(file, root))
    return value


def load_yaml(path: str | Path, type_: type[T], *, check: Check[T] | None = None) -> T:
    """Read ``path`` and return it as ``type_`` (see ``from_text``); raise ConfigError naming file, line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(p)) from exc
    return from_text(text, type_, file=str(p), check=check)


def line_at(root: yaml.Node | None, path: str) -> int | None:
    """Line of the YAML node at ``path`` (``rules[2].when``), for checks made after conversion."""
    return _node_line(root, _steps("$." + path if not path.startswith("[") else "$" + path), None)
