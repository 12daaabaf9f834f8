"""Light value classes: what `dataclasses` gives the core, at a fraction of the start-up cost.

What it does: `record` (also importable as `dataclass`) turns an annotated class into a value
class with a generated `__init__`, `__repr__`, `__eq__` and (when frozen) `__hash__`, plus
`field()` for defaults, factories and fields left out of comparison, and `replace()`.
Why: the wrapper runs once per connection, and `dataclasses` costs about 0.3-0.5 ms per class
and ~7 ms of imports (inspect, ast, tokenize); the core has ~50 value classes. One small
`exec` per class is all this needs. Type checkers see it as a dataclass (PEP 681).

Hazards: `frozen` is enforced by the type checker only (instances are ordinary objects); do not
mutate records. Errors: a record with a mandatory field after a defaulted one raises TypeError
at class creation, like dataclasses.
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


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(
        self, default: Any, default_factory: Callable[[], Any] | None, compare: bool, repr: bool
    ) -> None:
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


def _fields_of(cls: type) -> list[tuple[str, Field]]:
    inherited: list[tuple[str, Field]] = []
    for base in reversed(cls.__mro__[1:]):
        inherited.extend(getattr(base, "__record_fields__", ()))
    seen = dict(inherited)
    # not inspect.get_annotations(): importing inspect is the cost this module avoids
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in annotations.items():
        if "ClassVar" in str(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(value, None, True, True)
        if isinstance(value, Field):
            if value.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
        seen[name] = spec
    return list(seen.items())


def _build(cls: type, frozen: bool, eq: bool) -> type:
    fields = _fields_of(cls)
    namespace: dict[str, Any] = {"MISSING": MISSING}
    params: list[str] = []
    body: list[str] = []
    defaulted = False
    for name, spec in fields:
        if spec.default_factory is not None:
            namespace[f"_factory_{name}"] = spec.default_factory
            params.append(f"{name}=MISSING")
            body.append(f"  self.{name} = _factory_{name}() if {name} is MISSING else {name}")
            defaulted = True
        elif spec.default is not MISSING:
            namespace[f"_default_{name}"] = spec.default
            params.append(f"{name}=_default_{name}")
            body.append(f"  self.{name} = {name}")
            defaulted = True
        else:
            if defaulted:
                raise TypeError(f"{cls.__name__}: non-default field {name!r} after a default")
            params.append(name)
            body.append(f"  self.{name} = {name}")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    compared = tuple(name for name, spec in fields if spec.compare)
    shown = tuple(name for name, spec in fields if spec.repr)
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["  pass"])
    exec(source, namespace)  # noqa: S102 - generated from field names only
    cls.__init__ = namespace["__init__"]  # type: ignore[misc]
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _make_repr(cls.__qualname__, shown)  # type: ignore[assignment]
    if eq:
        cls.__eq__ = _make_eq(compared)  # type: ignore[assignment]
        cls.__hash__ = _make_hash(compared) if frozen else None  # type: ignore[assignment]
    cls.__record_fields__ = tuple(fields)  # type: ignore[attr-defined]
    return cls


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
    """Decorator: make `cls` a value class (see the module docstring). `slots` is accepted
    for dataclasses compatibility and ignored."""

    def wrap(target: type[T]) -> type[T]:
        return _build(target, frozen, eq)

    return wrap if cls is None else wrap(cls)


dataclass = record


def replace(obj: T, **changes: Any) -> T:
    values = {name: getattr(obj, name) for name, _ in type(obj).__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(name for name, _ in cls.__record_fields__)  # type: ignore[attr-defined]
