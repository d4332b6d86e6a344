"""What a vendor adapter is, who a vendor's user or host name belongs to, and the one loop that runs any adapter.

An adapter is pure: one vendor record (a parsed JSON object) and the directory's
`Identities` in, canonical event documents out — or a reason the record is not
telemetry telltales reads (an Okta password change is not a login), or an
`AdapterError`. `Translator` runs it over raw bytes and puts every document it returns
through the event contract's decoder, so an adapter can never emit an event the core
would refuse: a mapping that breaks the contract is a rejection at stage `adapter`, with
the decoder's path and reason.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from ..decoder import DEFAULT_MAX_EVENT_BYTES, Decoder, read_object, too_large
from ..events import Employee, Event
from ..rejections import Rejection

MAX_NAMES_SHOWN = 3  # employees named in an ambiguous-alias rejection


class AdapterError(Exception):
    """A record the adapter cannot map: a rejection code (`adapter_error`, `unknown_identity`), a path, a reason."""

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(message)
        self.rejection = Rejection(code, path, message)


class Identities:
    """Vendor user and host names → employee ids, from the directory's ids and `aliases` (case-insensitive).

    >>> ids = Identities()
    >>> ids.add(Employee(employee_id="emp-1", aliases=["Ana.Kim@example.com", "HOST-7"]))
    >>> ids.resolve("ana.kim@EXAMPLE.com", "actor.alternateId"), ids.resolve("emp-1", "actor.id")
    ('emp-1', 'emp-1')
    >>> ids.resolve("bob@example.com", "actor.alternateId")
    Traceback (most recent call last):
    ...
    telltales.schemas.adapters.base.AdapterError: `actor.alternateId` is 'bob@example.com': no employee record lists it as its id or an alias
    """

    def __init__(self) -> None:
        self._owners: dict[str, set[str]] = {}  # folded name → employee ids that list it
        self._names: dict[str, tuple[str, ...]] = {}  # employee id → its folded names, to replace them on update

    def add(self, employee: Employee) -> None:
        """Learn (or re-learn: an update replaces the employee's earlier aliases) one directory record."""
        eid = employee.employee_id
        self.remove(eid)
        names = tuple(dict.fromkeys(n.casefold() for n in (eid, *(employee.aliases or ())) if n.strip()))
        self._names[eid] = names
        for name in names:
            self._owners.setdefault(name, set()).add(eid)

    def remove(self, employee_id: str) -> None:
        """Forget an employee (a directory tombstone): their id and aliases name nobody any more."""
        for name in self._names.pop(employee_id, ()):
            owners = self._owners[name]
            owners.discard(employee_id)
            if not owners:
                del self._owners[name]

    def __len__(self) -> int:
        return len(self._names)

    def resolve(self, name: Any, path: str) -> str:
        """The employee id `name` (read at `path` of the vendor record) belongs to; AdapterError when none or several."""
        if not isinstance(name, str) or not name.strip():
            raise AdapterError("unknown_identity", path, f"`{path}` is {shown(name)}: the record names no user")
        owners = self._owners.get(name.casefold())
        if not owners:
            raise AdapterError("unknown_identity", path,
                               f"`{path}` is {name!r}: no employee record lists it as its id or an alias")
        if len(owners) > 1:
            named = sorted(owners)
            more = f" and {len(named) - MAX_NAMES_SHOWN} more" if len(named) > MAX_NAMES_SHOWN else ""
            raise AdapterError("unknown_identity", path,
                               f"`{path}` is {name!r}, an alias of {len(named)} employees "
                               f"({', '.join(named[:MAX_NAMES_SHOWN])}{more}): fix the directory's aliases")
        return next(iter(owners))


class Adapter(Protocol):
    name: str   # what `telltales adapt --from` takes, and the DLQ envelope's `adapter`
    title: str  # the vendor log it reads, for help texts

    def adapt(self, record: dict[str, Any], identities: Identities) -> list[dict[str, Any]] | str:
        """Canonical event documents (each with its `event_type`), or why this record is skipped.

        A skip reason is for records that are valid but carry nothing telltales reads; it
        is counted by reason, never written to the DLQ. Raise `AdapterError` for a record
        that should have mapped and could not.
        """
        ...


class Translator:
    """Raw vendor bytes → checked canonical events, a skip reason, or a `Rejection` (never raises on input)."""

    def __init__(self, adapter: Adapter, identities: Identities, *,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.adapter = adapter
        self.identities = identities
        self.max_event_bytes = max_event_bytes
        self._decoder = Decoder(max_event_bytes=max_event_bytes)

    def translate(self, data: bytes) -> list[Event] | str | Rejection:
        if len(data) > self.max_event_bytes:
            return too_large(len(data), self.max_event_bytes)
        record = read_object(data)
        if isinstance(record, Rejection):
            return record
        try:
            documents = self.adapter.adapt(record, self.identities)
        except AdapterError as exc:
            return exc.rejection
        except Exception as exc:  # noqa: BLE001 — a record the mapping did not foresee must not stop the stream
            return Rejection("adapter_error", "",
                             f"the {self.adapter.name} adapter failed on this record: {type(exc).__name__}: {exc}")
        if isinstance(documents, str):
            return documents
        events: list[Event] = []
        for document in documents:
            event = self._decoder.decode(msgspec.json.encode(document))
            if isinstance(event, Rejection):
                return Rejection(event.code, event.path,
                                 f"the {self.adapter.name} record maps to an event the contract refuses: {event.message}")
            events.append(event)
        return events


def shown(value: Any) -> str:
    """A record's value as a message shows it: "missing" for None (absent or null), else its repr."""
    return "missing" if value is None else repr(value)
