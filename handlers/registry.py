"""The command registry: every command, button action and free-text flow the bot knows, with
who may use it and where. Built in one place (handlers/catalog.py) in visible order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

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


@dataclass(frozen=True, slots=True)
class Action:
    """What a button does. Its choice data is ``prefix:arg:arg``."""

    prefix: str
    handler: ActionHandler
    access: Access
    scope: Scope


class Registry:
    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._by_name: dict[str, Command] = {}
        self._actions: dict[str, Action] = {}
        self._flows: dict[str, FlowHandler] = {}

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

    def flow(self, name: str, handler: FlowHandler) -> None:
        if name in self._flows:
            raise ValueError(f"flow {name!r} registered twice")
        self._flows[name] = handler

    def find_command(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    def find_action(self, prefix: str) -> Action | None:
        return self._actions.get(prefix)

    def find_flow(self, name: str) -> FlowHandler | None:
        return self._flows.get(name)

    def commands(self) -> Iterator[Command]:
        return iter(self._commands)
