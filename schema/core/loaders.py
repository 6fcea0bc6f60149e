"""DataLoaders, made fresh for every request so nothing cached crosses users or requests.

Every relation that a type shown in a list resolves goes through one of these, so a page
costs one query per relation and level, however many rows it has (pinned by
tests/test_query_counts*.py). The reads themselves are the domain's batch functions
(resolvers/<domain>/batches.py): this module only gives each request its own loader over them.

A domain adds a relation without touching this file: `info.context.loaders.of(batch)` is the
request's loader over any module-level batch function `async (keys) -> answers in key order`.
The named properties below are the shared relations every domain uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from resolvers.access import batches as access
from resolvers.core.models import Credential, Department, Device, Gate, Grant, Person, Visit, Zone
from resolvers.devices import batches as devices
from resolvers.passes import batches as passes
from resolvers.people import batches as people
from resolvers.visits import batches as visits

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, rt: Runtime | None = None) -> None:
        self._rt = rt
        self._by_batch: dict[Callable[..., Any], DataLoader[Any, Any]] = {}

    def of(self, batch: Callable[[list[K]], Awaitable[Sequence[V]]]) -> DataLoader[K, V]:
        """This request's loader over `batch` (a module-level function: the function is the key)."""
        loader = self._by_batch.get(batch)
        if loader is None:
            loader = self._by_batch[batch] = DataLoader(load_fn=batch)
        return loader

    @property
    def person(self) -> DataLoader[int, Person | None]:
        return self.of(people.people_by_ids)

    @property
    def department(self) -> DataLoader[int, Department | None]:
        return self.of(people.departments_by_ids)

    @property
    def hosted_visits(self) -> DataLoader[people.HostedPage, list[Visit]]:
        return self.of(people.hosted_visit_pages)

    @property
    def access_log(self) -> DataLoader[people.PersonEvents, list[dict[str, Any]]]:
        return self.of(people.access_log_pages)

    @property
    def visit_of_visitor(self) -> DataLoader[int, Visit | None]:
        return self.of(people.visits_of_visitors)

    @property
    def active_pass(self) -> DataLoader[int, Credential | None]:
        return self.of(passes.active_credentials)

    @property
    def zone(self) -> DataLoader[int, Zone | None]:
        return self.of(access.zones_by_ids)

    @property
    def gate(self) -> DataLoader[int, Gate | None]:
        return self.of(access.gates_by_ids)

    @property
    def grant(self) -> DataLoader[int, Grant | None]:
        return self.of(access.grants_by_ids)

    @property
    def device(self) -> DataLoader[int, Device | None]:
        return self.of(devices.devices_by_ids)

    @cached_property
    def device_online(self) -> DataLoader[int, bool]:
        rt = self._rt
        assert rt is not None, "the request's loaders are made with the runtime"

        async def online(ids: list[int]) -> Sequence[bool]:
            return await devices.devices_online(rt.state, ids)

        return DataLoader(load_fn=online)

    @property
    def visit(self) -> DataLoader[int, Visit | None]:
        return self.of(visits.visits_by_ids)

    @property
    def visit_zones(self) -> DataLoader[int, list[Zone]]:
        return self.of(visits.zones_of_visits)
