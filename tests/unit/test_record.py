"""_record against dataclasses, on every point the module docstring says they share.

Each behaviour is asserted for `record` and for `dataclasses.dataclass` with the same class
body, so a difference shows as a failure on one side only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from tcpwrap._record import FrozenInstanceError, field, field_names, record, replace

BOTH: list[tuple[Callable[..., Any], Callable[..., Any], type[Exception]]] = [
    (record, field, FrozenInstanceError),
    (dataclasses.dataclass, dataclasses.field, dataclasses.FrozenInstanceError),
]
Maker = tuple[Callable[..., Any], Callable[..., Any], type[Exception]]


@pytest.fixture(params=BOTH, ids=["record", "dataclasses"])
def make(request: pytest.FixtureRequest) -> Maker:
    return request.param  # type: ignore[no-any-return]


def test_frozen_refuses_assignment_and_deletion(make: Maker) -> None:
    deco, _, frozen_error = make

    @deco(frozen=True)
    class Point:
        x: int
        y: int = 0

    p = Point(1)
    with pytest.raises(frozen_error):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(frozen_error):
        del p.y  # type: ignore[misc]
    with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError
        p.z = 3  # type: ignore[attr-defined]
    assert (p.x, p.y) == (1, 0)
    assert hash(p) == hash(Point(1, 0)) and p == Point(1, 0) and p != Point(2)


def test_unfrozen_is_mutable_and_unhashable(make: Maker) -> None:
    deco, _, _ = make

    @deco
    class Box:
        value: int

    box = Box(1)
    box.value = 2
    assert box == Box(2)
    with pytest.raises(TypeError):
        hash(box)


def test_slots_mean_no_instance_dict(make: Maker) -> None:
    deco, make_field, _ = make

    @deco(frozen=True, slots=True)
    class Slotted:
        a: int
        b: tuple[int, ...] = ()
        c: list[int] = make_field(default_factory=list, compare=False)

    item = Slotted(1)
    assert not hasattr(item, "__dict__")
    assert set(Slotted.__slots__) == {"a", "b", "c"}
    assert (item.a, item.b, item.c) == (1, (), [])
    assert item == Slotted(1, (), [9])  # c is not compared
    with pytest.raises(AttributeError):
        object.__setattr__(item, "d", 1)


def test_mutable_defaults_are_refused(make: Maker) -> None:
    deco, _, _ = make
    for default in ([], {}, set()):
        with pytest.raises(ValueError, match="mutable default"):

            @deco
            class Shared:
                items: object = default


def test_a_factory_runs_per_instance(make: Maker) -> None:
    deco, make_field, _ = make

    @deco
    class Bag:
        items: list[int] = make_field(default_factory=list)

    first, second = Bag(), Bag()
    first.items.append(1)
    assert second.items == [] and first.items is not second.items


def test_classvar_is_not_a_field(make: Maker) -> None:
    deco, _, _ = make

    @deco
    class Counted:
        limit: ClassVar[int] = 5
        name: str = "x"
        # a type that merely contains the word is a field (the old check took it for one)
        note: MyClassVarLike | None = None  # noqa: F821

    assert Counted.limit == 5
    assert Counted("n").name == "n"
    assert Counted("n", "y").note == "y"
    with pytest.raises(TypeError):
        Counted("n", "y", 1)  # type: ignore[call-arg]


def test_default_after_non_default_is_a_type_error(make: Maker) -> None:
    deco, _, _ = make
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        @deco
        class Bad:
            a: int = 1
            b: int


def test_post_init_repr_eq_and_inheritance(make: Maker) -> None:
    deco, make_field, _ = make
    seen: list[int] = []

    @deco(frozen=True)
    class Base:
        a: int
        secret: str = make_field(default="s", repr=False)

        def __post_init__(self) -> None:
            seen.append(self.a)

    @deco(frozen=True)
    class Child(Base):
        b: int = 2

    child = Child(1)
    assert seen == [1]
    assert repr(child).endswith("Child(a=1, b=2)")
    assert child == Child(1, "s", 2) and child != Base(1)


def test_replace_and_field_names() -> None:
    @record(frozen=True, slots=True)
    class Pair:
        left: int
        right: int = 0

    assert replace(Pair(1, 2), right=5) == Pair(1, 5)
    assert field_names(Pair) == ("left", "right")
    assert dataclasses.replace(DPair(1, 2), right=5) == DPair(1, 5)


@dataclasses.dataclass(frozen=True)
class DPair:
    left: int
    right: int = 0


def test_default_and_factory_together_are_refused(make: Maker) -> None:
    _, make_field, _ = make
    with pytest.raises(ValueError, match="cannot specify both default and default_factory"):
        make_field(default=1, default_factory=list)
