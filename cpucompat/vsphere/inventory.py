"""The plain inventory both vCenter retrieval and a saved folder produce.

Every managed object is ``Obj(type, moid, props)`` where ``props`` maps a property path
(``name``, ``config``, ``config.featureCapability``, ...) to a plain value: dicts (with
``_type``, the vSphere type name), lists, strings, numbers, booleans, and managed object
references as ``"Type:moid"`` strings. ``get`` reads a dotted path whichever prefix was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Obj:
    type: str
    moid: str
    props: dict = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.type}:{self.moid}"

    def get(self, path: str, default=None):
        """The value at a dotted property path: the longest stored prefix, then its fields."""
        if path in self.props:
            return self.props[path]
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self.props:
                value = self.props[prefix]
                for part in parts[cut:]:
                    if isinstance(value, dict):
                        value = value.get(part)
                    else:
                        return default
                return default if value is None else value
        return default


@dataclass
class Inventory:
    source: str
    objects: list[Obj] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_ref = {o.ref: o for o in self.objects}

    def of_type(self, *types: str) -> list[Obj]:
        return [o for o in self.objects if o.type in types]

    def lookup(self, ref) -> Obj | None:
        return self._by_ref.get(ref) if isinstance(ref, str) else None

    def name_of(self, ref) -> str | None:
        obj = self.lookup(ref)
        return obj.get("name") if obj else None


def as_list(value) -> list:
    """A repeated field as a list: XML cannot tell one repeated element from a single one."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]
