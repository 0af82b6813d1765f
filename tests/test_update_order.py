"""Updates of different people run at once; one person's run in the order they arrived."""

from __future__ import annotations

import asyncio

from telegram import Chat, Update, User
from telegram import Message as TgMessage

from bot.update_order import PerPersonUpdateProcessor


def _update(update_id: int, user_id: int) -> Update:
    user = User(user_id, f"U{user_id}", is_bot=False)
    chat = Chat(user_id, "private")
    message = TgMessage(update_id, date=None, chat=chat, from_user=user, text="hi")  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_one_persons_updates_keep_their_order_while_others_overlap() -> None:
    processor = PerPersonUpdateProcessor(8)
    events: list[str] = []
    release_first = asyncio.Event()

    async def work(name: str, wait: asyncio.Event | None = None) -> None:
        events.append(f"start {name}")
        if wait is not None:
            await wait.wait()
        events.append(f"end {name}")

    async with processor:
        first = asyncio.create_task(
            processor.process_update(_update(1, 7), work("a1", release_first))
        )
        second = asyncio.create_task(processor.process_update(_update(2, 7), work("a2")))
        other = asyncio.create_task(processor.process_update(_update(3, 8), work("b1")))
        await other  # another person is not held up by person 7's slow update
        assert "end b1" in events and "start a2" not in events
        release_first.set()
        await asyncio.gather(first, second)
    assert events.index("end a1") < events.index("start a2")
    assert processor._queues == {}  # nothing kept once everyone is served
