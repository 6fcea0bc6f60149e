"""DataLoaders, made fresh for every request so nothing cached crosses users or requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from resolvers.core.models import Department, Gate, Person, Visit, VisitZone, Zone

M = TypeVar("M", bound=Model)
K = TypeVar("K")
V = TypeVar("V")


def _by_id(model: type[M]) -> DataLoader[int, M | None]:
    async def load(keys: Sequence[int]) -> list[M | None]:
        rows = {row.pk: row for row in await model.filter(id__in=set(keys))}
        return [rows.get(k) for k in keys]

    return DataLoader(load_fn=load)


def _visit_zones() -> DataLoader[int, list[Zone]]:
    async def load(visit_ids: Sequence[int]) -> list[list[Zone]]:
        links = await VisitZone.filter(visit_id__in=set(visit_ids)).order_by("zone_id").values("visit_id", "zone_id")
        zones = {z.id: z for z in await Zone.filter(id__in={link["zone_id"] for link in links})}
        out: dict[int, list[Zone]] = {v: [] for v in visit_ids}
        for link in links:
            out[link["visit_id"]].append(zones[link["zone_id"]])
        return [out[v] for v in visit_ids]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    person: DataLoader[int, Person | None]
    department: DataLoader[int, Department | None]
    zone: DataLoader[int, Zone | None]
    gate: DataLoader[int, Gate | None]
    visit: DataLoader[int, Visit | None]
    visit_zones: DataLoader[int, list[Zone]]
    # ---- schema-b (visits, items, attendance): any domain's batch function, one loader per request
    _by_batch: dict[Callable[..., Any], DataLoader[Any, Any]] = field(default_factory=dict)

    def of(self, batch: Callable[[list[K]], Awaitable[Sequence[V]]]) -> DataLoader[K, V]:
        """This request's loader over `batch` (a module-level function in resolvers/<domain>/batches.py:
        the function is the key), so a domain adds a relation without a field here."""
        loader = self._by_batch.get(batch)
        if loader is None:
            loader = self._by_batch[batch] = DataLoader(load_fn=batch)
        return loader

    # ---- end schema-b

    @classmethod
    def new(cls) -> Loaders:
        return cls(
            person=_by_id(Person),
            department=_by_id(Department),
            zone=_by_id(Zone),
            gate=_by_id(Gate),
            visit=_by_id(Visit),
            visit_zones=_visit_zones(),
        )
