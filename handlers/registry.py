"""The command registry: every command, button action and free-text flow the bot knows, with
who may use it and where. Built in one place (handlers/catalog.py) in visible order."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from handlers.context import Context
from handlers.core import Reply

Handler = Callable[[Context], Awaitable[list[Reply]]]
ActionHandler = Callable[[Context, list[str]], Awaitable[list[Reply]]]
FlowHandler = Callable[[Context, dict[str, object]], Awaitable[list[Reply]]]


class Access(StrEnum):
    ANYONE = "anyone"  # no membership needed (/start, /setup, /join)
    MEMBER = "member"  # an active member of the cell in question
    LEADER = "leader"  # the secretary or the deputy
    SECRETARY = "secretary"


class Scope(StrEnum):
    GROUP = "group"
    PRIVATE = "private"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command. ``vi`` is the Vietnamese name without diacritics, ``en`` the English
    alias; either one works. ``description`` is the catalog key shown in the command menu."""

    vi: str
    en: str
    handler: Handler
    access: Access
    scope: Scope
    description: str
    in_menu: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return (self.vi,) if self.vi == self.en else (self.vi, self.en)


# Pieces of a button's argument shape. Button data comes back from the client as it likes, so
# each action states the exact shape its arguments take and the dispatcher refuses anything
# else before a handler sees it: ASCII only, a bounded number of digits, no extra parts.
ID = "[0-9]{1,10}"  # a row id, a page or a small count; handlers still bound its value
WORD = "[a-z_]{1,24}"  # an enum value such as a role, a status or a reason
MONTH = "[0-9]{6}"  # YYYYMM
DAY = "[0-9]{4}-[0-9]{2}-[0-9]{2}"  # an ISO date
NONE = ""  # a button without arguments


@dataclass(frozen=True, slots=True)
class Action:
    """What a button does. Its choice data is ``prefix`` or ``prefix:args``, where ``args``
    must match ``shape`` (a regular expression over the whole argument string).

    A typed number is easier to get wrong than a tap, so acts that cannot be undone or that
    others see declare it here, in one place: ``confirm`` is the catalog key restating the act,
    and choosing it by number first asks one confirmation in those words. ``asks_confirmation``
    marks an action whose own reply already is that confirmation (cancel → «Hủy thật?»), so its
    card lives only minutes and its numbers act without asking twice.

    ``everyone``: on a card shown in a group, anyone there may answer this option by number,
    whoever the card answered (check-in: the leader opens it, every member says «có mặt»).
    Actions that work only in groups are everyone's without saying so."""

    prefix: str
    handler: ActionHandler
    access: Access
    scope: Scope
    shape: str = NONE
    confirm: str | None = None
    asks_confirmation: bool = False
    everyone: bool = False
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", re.compile(self.shape, re.ASCII))

    def parse(self, arguments: str) -> list[str] | None:
        """The arguments as a list when they have this action's shape, else None."""
        if self._pattern.fullmatch(arguments) is None:
            return None
        return arguments.split(":") if arguments else []


class NoData(TypedDict):
    """A question that keeps nothing between asking and answering."""


@dataclass(frozen=True, slots=True)
class Flow:
    """The answer to a question the bot asked. Like a button, it names who may give it: the
    right to finish is checked again when the answer arrives, not only when the question was
    asked (a deputy demoted meanwhile may not finish editing a meeting). ``data`` is the
    TypedDict of what the question keeps; a stored question that no longer fits it (written
    by an older version, or tampered with) is answered as stale, never half-read."""

    name: str
    handler: FlowHandler
    access: Access
    data: type[Any] = NoData
    _adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_adapter", TypeAdapter(self.data))

    def fits(self, data: dict[str, object]) -> bool:
        try:
            self._adapter.validate_python(data)
        except ValidationError:
            return False
        return True


class Registry:
    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._by_name: dict[str, Command] = {}
        self._actions: dict[str, Action] = {}
        self._flows: dict[str, Flow] = {}

    def command(self, command: Command) -> None:
        for name in command.names:
            if name in self._by_name:
                raise ValueError(f"command /{name} registered twice")
            self._by_name[name] = command
        self._commands.append(command)

    def action(self, action: Action) -> None:
        if action.prefix in self._actions or ":" in action.prefix:
            raise ValueError(f"bad or duplicate action prefix {action.prefix!r}")
        self._actions[action.prefix] = action

    def flow(self, flow: Flow) -> None:
        if flow.name in self._flows:
            raise ValueError(f"flow {flow.name!r} registered twice")
        self._flows[flow.name] = flow

    def find_command(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def find_action(self, prefix: str) -> Action | None:
        return self._actions.get(prefix)

    def find_flow(self, name: str) -> Flow | None:
        return self._flows.get(name)

    def commands(self) -> Iterator[Command]:
        return iter(self._commands)

    def actions(self) -> Iterator[Action]:
        return iter(self._actions.values())

    def flows(self) -> Iterator[Flow]:
        return iter(self._flows.values())
