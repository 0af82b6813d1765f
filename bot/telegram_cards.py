"""The buttons a Telegram chat was shown, kept as one numbered card per chat, so that a digit
typed instead of a tap answers the newest card (the model of handlers/cards.py). Used for the
adapter's replies and for what the outbox sends (reminders carry buttons too)."""

from __future__ import annotations

from handlers.cards import NumberedCards, ShownOption
from handlers.core import Inbound, Reply


async def record_card(
    cards: NumberedCards,
    chat_id: str,
    replies: list[Reply],
    *,
    asker: str | None,
    in_group: bool,
    question: bool = False,
    confirming: bool = False,
    answered_a_tap: bool = False,
) -> None:
    """Record ``replies``' buttons as ``chat_id``'s newest card. Its text numbers them (1 is
    the first button, row by row): a stale digit gets it back as text."""
    options = [
        ShownOption(choice.label, choice.data, reply.text.strip().partition("\n")[0])
        for reply in replies
        for row in reply.choices
        for choice in row
        if not choice.url
    ]
    numbered = "\n".join(f"{n}. {option.label}" for n, option in enumerate(options, 1))
    await cards.show(
        chat_id=chat_id,
        asker=asker,
        in_group=in_group,
        options=options,
        text="\n\n".join([*(r.text for r in replies if r.choices), numbered]),
        question=question,
        confirming=confirming,
        answered_a_tap=answered_a_tap,
    )


def shown(replies: list[Reply]) -> list[Reply]:
    """The replies that stay in the chat as messages (a popup or a quiz poll is no card)."""
    return [reply for reply in replies if not reply.popup and reply.poll is None]


async def keep_cards(
    cards: NumberedCards, inbound: Inbound, replies: list[Reply], *, confirming: bool
) -> None:
    """Record the buttons each chat was just shown in answer to ``inbound``."""
    by_chat: dict[str, list[Reply]] = {}
    for reply in shown(replies):
        by_chat.setdefault(reply.chat_id or inbound.chat_id, []).append(reply)
    for chat_id, chat_replies in by_chat.items():
        same_chat = chat_id == inbound.chat_id
        await record_card(
            cards,
            chat_id,
            chat_replies,
            asker=inbound.user_id if same_chat else None,
            in_group=inbound.is_group and same_chat,
            question=same_chat and any(r.ask_text for r in chat_replies),
            confirming=confirming and same_chat,
            answered_a_tap=same_chat and inbound.choice is not None,
        )
