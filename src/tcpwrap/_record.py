"""Light value classes: the part of `dataclasses` the core uses, without its start-up cost.

What it does: `@record` turns an annotated class into a value class with a generated
`__init__`, `__repr__`, `__eq__` and, when frozen, `__hash__`; `field()` gives defaults,
factories and fields left out of comparison or repr; `replace()` and `field_names()`. On the
points it shares with `dataclasses.dataclass` it behaves the same, and
tests/unit/test_record.py checks each against `dataclasses`:
  - `frozen=True`: assigning or deleting a field raises `FrozenInstanceError` (an
    AttributeError), and instances hash by their compared fields;
  - `slots=True`: the class is rebuilt with `__slots__` (no instance `__dict__`);
  - a list, dict or set default is refused (ValueError: use `default_factory`), so instances
    never share a mutable default; a factory runs once per instance;
  - `ClassVar[...]` annotations are class attributes, not fields; a field without a default
    after one with a default is a TypeError; `__post_init__` runs after `__init__`.
Not provided (use `dataclasses` where they are needed): `order`, `kw_only`, `InitVar`,
`match_args`, `asdict`, `fields()`.

Why: the wrapper runs once per connection. Its path creates 66 record classes; with
`dataclasses` that is ~10 ms of imports (inspect, ast, tokenize, re) plus ~0.27 ms per class,
against ~0.6 ms for this module and ~45 us per class: 24 ms saved per connection, 7.9x
(benchmarks/record_bench.py, 2026-12-01; benchmarks/README.md). Type checkers see `record`
as a dataclass transform (PEP 681).

Hazards: annotations are read as strings (every module here uses `from __future__ import
annotations`): a field is a ClassVar when its annotation is spelt `ClassVar[...]` or
`typing.ClassVar[...]`; unlike dataclasses, the name is not checked against the module's
`typing` import (the wrapper's modules import typing for the type checker only).
Errors: TypeError or ValueError at class creation, FrozenInstanceError on mutation.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs: object) -> object:
        return lambda target: target


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record (as dataclasses.FrozenInstanceError)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(
        self, default: Any, default_factory: Callable[[], Any] | None, compare: bool, repr: bool
    ) -> None:
        if default is not MISSING and default_factory is not None:
            raise ValueError("cannot specify both default and default_factory")
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    return Field(default, default_factory, compare, repr)


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        head = annotation.strip().split("[", 1)[0].strip()
        return head in ("ClassVar", "typing.ClassVar")
    origin = getattr(annotation, "__origin__", annotation)
    return getattr(origin, "_name", None) == "ClassVar"  # typing.ClassVar[...] or bare


def _fields_of(cls: type) -> list[tuple[str, Field]]:
    inherited: list[tuple[str, Field]] = []
    for base in reversed(cls.__mro__[1:]):
        inherited.extend(getattr(base, "__record_fields__", ()))
    seen = dict(inherited)
    # not inspect.get_annotations(): importing inspect is the cost this module avoids
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in annotations.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(value, None, True, True)
        if type(spec.default).__hash__ is None:  # list, dict, set: shared by every instance
            raise ValueError(
                f"mutable default {type(spec.default)} for field {name} is not allowed:"
                " use default_factory"
            )
        if isinstance(value, Field):
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        seen[name] = spec
    return list(seen.items())


def _build(cls: type, frozen: bool, eq: bool, slots: bool) -> type:
    fields = _fields_of(cls)
    namespace: dict[str, Any] = {"MISSING": MISSING, "_set": object.__setattr__}
    params: list[str] = []
    body: list[str] = []
    defaulted = False
    # A frozen record's own __setattr__ refuses, so its __init__ sets through object's.
    assign = "  _set(self, {0!r}, {1})" if frozen else "  self.{0} = {1}"
    for name, spec in fields:
        if spec.default_factory is not None:
            namespace[f"_factory_{name}"] = spec.default_factory
            params.append(f"{name}=MISSING")
            body.append(assign.format(name, f"_factory_{name}() if {name} is MISSING else {name}"))
            defaulted = True
        elif spec.default is not MISSING:
            namespace[f"_default_{name}"] = spec.default
            params.append(f"{name}=_default_{name}")
            body.append(assign.format(name, name))
            defaulted = True
        else:
            if defaulted:
                raise TypeError(f"non-default argument {name!r} follows default argument")
            params.append(name)
            body.append(assign.format(name, name))
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    compared = tuple(name for name, spec in fields if spec.compare)
    shown = tuple(name for name, spec in fields if spec.repr)
    if slots:
        cls = _with_slots(cls, tuple(name for name, _ in fields))
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["  pass"])
    exec(source, namespace)  # noqa: S102 - generated from field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _make_repr(cls.__qualname__, shown)  # type: ignore[assignment]
    if eq:
        cls.__eq__ = _make_eq(compared)  # type: ignore[assignment]
        cls.__hash__ = _make_hash(compared) if frozen else None  # type: ignore[assignment]
    if frozen:
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
    cls.__record_fields__ = tuple(fields)  # type: ignore[attr-defined]
    return cls


def _with_slots(cls: type, names: tuple[str, ...]) -> type:
    """The class again, with __slots__ for its own fields (as dataclasses does: a new class)."""
    inherited = {
        slot for base in cls.__mro__[1:-1] for slot in getattr(base, "__slots__", ())
    }  # fmt: skip
    body = dict(cls.__dict__)
    for name in names:
        body.pop(name, None)  # a default stays in __init__; a class attribute would clash
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = tuple(name for name in names if name not in inherited)
    rebuilt = type(cls)(cls.__name__, cls.__bases__, body)
    rebuilt.__qualname__ = cls.__qualname__
    return rebuilt


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _make_repr(name: str, shown: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{field}={getattr(self, field)!r}" for field in shown)
        return f"{name}({inner})"

    return __repr__


def _make_eq(compared: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in compared)

    return __eq__


def _make_hash(compared: tuple[str, ...]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in compared))

    return __hash__


@dataclass_transform(field_specifiers=(field,))
def record(
    cls: type[T] | None = None,
    /,
    *,
    frozen: bool = False,
    slots: bool = False,
    eq: bool = True,
) -> Any:
    """Decorator: make `cls` a value class (see the module docstring)."""

    def wrap(target: type[T]) -> type[T]:
        return _build(target, frozen, eq, slots)

    return wrap if cls is None else wrap(cls)


def replace(obj: T, **changes: Any) -> T:
    values = {name: getattr(obj, name) for name, _ in type(obj).__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(name for name, _ in cls.__record_fields__)  # type: ignore[attr-defined]
