"""Typed answers to numbered cards, for platforms where people answer with a number.

The model: one number space per person and chat. The newest card shown to a person in a chat,
among those with an option they may use, is the one their number answers; every older card is
dead the moment a newer one arrives, and a number that only fits a dead card is answered
"Danh sách này đã cũ" with the live card again. An act that cannot be undone or that others
see (its Action declares ``confirm``) is taken only after one confirmation card, which lives a
few minutes and dies when any other card is shown to that person.

Options carry no access of their own: it is read from the registry's Action for their data, so
the rule that refuses a tap is the rule that refuses a number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import timedelta

from handlers.context import Context, PlatformGateway, Services
from handlers.core import Choice, Inbound, Platform, Reply
from handlers.dispatch import Dispatcher, allowed
from handlers.numbers import parse_number
from handlers.registry import Action, Registry, Scope
from storage.choices import ANYONE, Card, CardOption, CardRepository
from storage.models import Member

CARD_TTL = timedelta(hours=12)
CONFIRM_TTL = timedelta(minutes=5)
# The data of «Thôi» on a confirmation (registered in handlers/catalog.py): it does nothing.
DROP = "cx"
MAX_OPTIONS = 99  # a card never has more numbered lines than two digits can name
_NUMBER = re.compile(r"^\s*(?:số\s*)?([0-9]{1,2})\s*[.)]?\s*$", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True, slots=True)
class ShownOption:
    """One numbered line of a card as the adapter rendered it."""

    label: str
    data: str
    about: str  # the first line of the message the option sat under


@dataclass(frozen=True, slots=True)
class Answer:
    """What a typed answer to a card became. With ``choice``, dispatch it and put ``echo``
    first in the reply; otherwise say ``replies`` instead (a confirmation, a stale list, a
    dropped confirmation). ``confirming``: the card those replies carry is a confirmation."""

    choice: str | None = None
    echo: str = ""
    replies: tuple[Reply, ...] = ()
    confirming: bool = False


def typed_number(text: str) -> int | None:
    """The option number in "2", "số 2", "2." or " 2) ", else None."""
    found = _NUMBER.match(text)
    return parse_number(found.group(1), low=1, high=MAX_OPTIONS) if found else None


def plain(text: str) -> str:
    """For matching an option typed back: letters and digits only, case folded."""
    normal = unicodedata.normalize("NFC", text).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in normal).split())


class NumberedCards:
    """Records the cards an adapter shows and turns typed answers into choices."""

    def __init__(
        self,
        registry: Registry,
        services: Services,
        cards: CardRepository,
        platform: Platform,
    ) -> None:
        self._registry = registry
        self._services = services
        self._cards = cards
        self._platform = platform

    def _action(self, data: str) -> Action | None:
        prefix, _, arguments = data.partition(":")
        action = self._registry.find_action(prefix)
        return action if action is not None and action.parse(arguments) is not None else None

    def may_use(self, data: str, actor: Member | None, *, in_group: bool) -> bool:
        """Whether ``actor`` may take this option here, by the rules the dispatcher applies."""
        action = self._action(data)
        if action is None:
            return False
        if action.scope is Scope.PRIVATE and in_group:
            return False
        return allowed(action.access, actor)

    def _open(self, data: str, asker: Member | None) -> bool:
        """Whether others in a group may answer this option of someone's card: an action
        that only works in a group belongs to the whole group (check-in, «Tham gia»), and one
        the asker may not take is for those who may (a newcomer's request is the leaders')."""
        action = self._action(data)
        if action is not None and (action.everyone or action.scope is Scope.GROUP):
            return True
        return not self.may_use(data, asker, in_group=True)

    async def _actor(self, inbound: Inbound) -> Member | None:
        actor, _unit = await self._services.members.whereabouts(
            inbound.platform, inbound.user_id, inbound.chat_id if inbound.is_group else None
        )
        return actor

    async def show(
        self,
        *,
        chat_id: str,
        asker: str | None,
        in_group: bool,
        options: list[ShownOption],
        text: str,
        question: bool,
        confirming: bool,
        answered_a_tap: bool = False,
    ) -> None:
        """Record what was just shown in ``chat_id``. ``asker`` is who it answers (None for the
        outbox: then everyone there may answer). In a group, options the asker may not use are
        open to those who may (a newcomer's request is for the leaders). A question for the
        asker, with no options, is a card too: their next words answer it, not an older list.
        ``answered_a_tap``: what answers a button the asker tapped is a card as well, even
        without options («Thôi» on a confirmation), so that their confirmations end with it."""
        if not options and not (asker is not None and (question or answered_a_tap)):
            return
        now = self._services.clock.now()
        actor: Member | None = None
        if asker is not None and in_group and options:
            actor, _unit = await self._services.members.whereabouts(self._platform, asker, chat_id)
        await self._cards.show(
            platform=self._platform,
            chat_id=chat_id,
            audience=asker or ANYONE,
            options=[
                CardOption(
                    option.label,
                    option.data,
                    asker is None or (in_group and self._open(option.data, actor)),
                    option.about,
                )
                for option in options
            ],
            text=text,
            expires_at=now + (CONFIRM_TTL if confirming else CARD_TTL),
            now=now,
            confirming=confirming,
            question=question and asker is not None,
        )

    async def answer(self, inbound: Inbound) -> Answer | None:
        """What ``inbound``'s text answers, or None when it is not an answer to a card (a
        command, free text, the answer to a question, a number past every list)."""
        if inbound.command is not None or inbound.choice is not None or not inbound.text:
            return None
        if inbound.is_group and not inbound.reply_to_bot:
            return None  # group chatter (a Telegram group without privacy mode), not an answer
        cards = await self._cards.visible(
            platform=self._platform, chat_id=inbound.chat_id, user_id=inbound.user_id
        )
        if not cards:
            return None
        actor = await self._actor(inbound)
        number = typed_number(inbound.text)

        def usable(card: Card, option: CardOption) -> bool:
            mine = card.audience == inbound.user_id or option.open
            return mine and self.may_use(option.data, actor, in_group=inbound.is_group)

        def is_question(card: Card) -> bool:
            # Not every card without options asks to write: the answer to a tap («Thôi») is
            # recorded too, only to end the confirmations before it.
            return card.audience == inbound.user_id and card.question and not card.options

        current = next(
            (c for c in cards if is_question(c) or any(usable(c, o) for o in c.options)), None
        )
        if current is not None and is_question(current):
            return None  # the person was asked to write: these words are the answer
        live = current if current and current.expires_at > self._services.clock.now() else None
        if number is None:
            # An option's own words work as well as its number, on the live card only.
            wanted = plain(inbound.text)
            for position, option in enumerate(live.options if live else (), 1):
                if live is not None and usable(live, option) and plain(option.label) == wanted:
                    return await self._chosen(live, position, option)
            return None
        if live is not None and number <= len(live.options):
            option = live.options[number - 1]
            if usable(live, option):
                return await self._chosen(live, number, option)
            return self._refused(option, actor, inbound)
        if live is not None and live.question and live.audience == inbound.user_id:
            return None  # past its options, a number is the answer to its question
        if current is None:
            # No card of this person's here: a number under someone else's card is refused
            # with the reason (a member answering a leader's request).
            for card in cards:
                if card.expires_at > self._services.clock.now() and number <= len(card.options):
                    option = card.options[number - 1]
                    if option.open:
                        return self._refused(option, actor, inbound)
        superseded = [
            card
            for card in cards
            if card is not live and (current is None or card.id <= current.id)
            if card.audience == inbound.user_id or any(usable(card, o) for o in card.options)
        ]
        if any(number <= len(card.options) for card in superseded):
            return self._stale(live)
        return None

    def _refused(self, option: CardOption, actor: Member | None, inbound: Inbound) -> Answer:
        """An option this person may not take: the dispatcher refuses it with the reason (a
        member's number on a leader's option), or, when they could take such an act but this
        card was someone else's, they are told so."""
        if not self.may_use(option.data, actor, in_group=inbound.is_group):
            return Answer(choice=option.data)
        return Answer(replies=(Reply(self._services.texts("card.not_yours")),))

    def _stale(self, live: Card | None) -> Answer:
        texts = self._services.texts
        if live is None:
            return Answer(replies=(Reply(texts("card.stale_none")),))
        return Answer(replies=(Reply(f"{texts('card.stale')}\n\n{live.text}"),))

    def _echo(self, number: int, option: CardOption) -> str:
        texts = self._services.texts
        if option.about:
            return texts("card.echo_about", number=number, label=option.label, about=option.about)
        return texts("card.echo", number=number, label=option.label)

    async def _chosen(self, card: Card, number: int, option: CardOption) -> Answer:
        texts = self._services.texts
        if card.confirming:
            # A confirmation answers once: afterwards its numbers are stale, not the list's.
            await self._cards.expire(card.id, self._services.clock.now())
        action = self._action(option.data)
        if action is not None and action.confirm is not None and not card.confirming:
            minutes = int(CONFIRM_TTL.total_seconds() // 60)
            question = Reply(
                texts(
                    "card.confirm",
                    about=option.about or option.label,
                    number=number,
                    label=option.label,
                    act=texts(action.confirm),
                    minutes=minutes,
                ),
                choices=(
                    (Choice(texts("card.confirm_yes", label=option.label), option.data),),
                    (Choice(texts("card.confirm_no"), DROP),),
                ),
            )
            return Answer(replies=(question,), confirming=True)
        return Answer(
            choice=option.data,
            echo=self._echo(number, option),
            confirming=action is not None and action.asks_confirmation,
        )


async def drop_confirmation(context: Context, _args: list[str]) -> list[Reply]:
    """«Thôi» on a confirmation: nothing is done (a typed number already ended the card)."""
    return [Reply(context.t("card.confirm_dropped"), replace=True)]


async def replies_to(
    dispatcher: Dispatcher, inbound: Inbound, gateway: PlatformGateway, answer: Answer | None
) -> tuple[list[Reply], bool, str]:
    """What to say to ``inbound`` given what its text answered: the replies, whether the card
    they carry confirms an act, and the echo of a typed choice to put first."""
    if answer is None:
        return await dispatcher.handle(inbound, gateway), False, ""
    if answer.choice is None:
        return list(answer.replies), answer.confirming, ""
    chosen = replace(inbound, choice=answer.choice, text="")
    return await dispatcher.handle(chosen, gateway), answer.confirming, answer.echo
