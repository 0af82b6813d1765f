"""The playground page in a real headless browser: Playwright driving Debian's chromium
(installed by `make`, never downloaded by Playwright) against the playground running in this
process. Screenshots go to test-artifacts/playground/ (git-ignored)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.playground.run import RunningPlayground, playground
from bot.playground.seed import MEMBER_NAMES, SECRETARY_NAME
from bot.settings import Settings
from handlers.i18n import Texts

IN_CI = os.environ.get("CI", "").lower() == "true"
if IN_CI:  # CI installs the dev extra: a missing Playwright must fail, not skip
    import playwright.async_api as playwright_api
else:
    playwright_api = pytest.importorskip(
        "playwright.async_api",
        reason="browser tests need the dev extra (pip install -e '.[dev]')",
    )

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "playground"
CHROMIUM = Path("/usr/bin/chromium")
# Chromium as the machine allows it: root without a sandbox, no GPU, and nothing that reaches
# out to the network on its own (the machine's network is closed and that only slows it down).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
# 08:00 on a Tuesday morning: the seeded meeting is on Friday 04/12 at 19:30.
START = datetime(2026, 12, 1, 8, 0, tzinfo=ZONE)
PHONE = {"width": 390, "height": 844}
WAIT_MS = 15_000
vi = Texts("vi")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def running_playground(tmp_path: Path, data_key: str) -> AsyncIterator[RunningPlayground]:
    settings = Settings(
        playground_port=0,
        playground_database_url=f"sqlite+aiosqlite:///{tmp_path / 'playground.db'}",
        data_keys=(data_key,),
        outbox_interval_seconds=0.2,
        _env_file=None,
    )
    async with playground(settings, start=START) as running:
        yield running


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail("CI=true but /usr/bin/chromium is missing: `make` installs it")
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


@pytest.fixture
async def page(tmp_path: Path, chromium: Path) -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a new, empty profile every test
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=PHONE,
            accept_downloads=True,
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


def message(page: Any, text: str) -> Any:
    """The latest message in the open chat that contains ``text``."""
    return page.locator("[data-testid=message]", has_text=text).last


async def be(page: Any, name: str) -> None:
    role = vi("playground.role.secretary" if name == SECRETARY_NAME else "playground.role.member")
    await page.select_option("#person", label=f"{name} — {role}")


async def say(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#send")


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_secretary_schedules_a_meeting_and_the_reminder_arrives_after_fast_forward(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await page.goto(running_playground.url)
    await expect(page.locator("#title")).to_have_text(vi("playground.title"))
    await be(page, SECRETARY_NAME)

    await say(page, "/lichhop")
    tomorrow = START.date() + timedelta(days=1)
    day_label = vi(
        "meeting.day_button",
        weekday=vi(f"weekday.short.{tomorrow.weekday()}"),
        day=tomorrow.strftime("%d/%m"),
    )
    await message(page, vi("meeting.pick_day")).get_by_role("button", name=day_label).click()
    await (
        message(page, vi("meeting.pick_time", day=vi.date(tomorrow)))
        .get_by_role("button", name="19:30")
        .click()
    )
    await expect(message(page, vi("meeting.ask_place"))).to_be_visible()
    await expect(page.locator("#hint")).to_be_visible()
    await say(page, "Hội trường UBND phường")
    default_title = vi("meeting.default_title", month=12, year=2026)
    await (
        message(page, vi("meeting.ask_title", default=default_title))
        .get_by_role("button", name=vi("meeting.button.default_title"))
        .click()
    )
    await (
        message(page, "Hội trường UBND phường")
        .get_by_role("button", name=vi("meeting.button.save_once"))
        .click()
    )
    announced = message(page, "📢 Lịch họp chi bộ")
    await expect(announced).to_contain_text("Hội trường UBND phường")
    await shot(page, "1-secretary-scheduled")

    # Every member sees it in the group.
    await be(page, MEMBER_NAMES[0])
    await expect(message(page, "📢 Lịch họp chi bộ")).to_contain_text("Hội trường UBND phường")

    # A day later (08:00 on 02/12) the "one day before" reminder of 19:30 has gone out.
    await page.get_by_role("button", name=vi("playground.forward.day")).click()
    await expect(page.locator("#notice")).to_have_text(vi("playground.forwarded"))
    header = vi("reminders.header", remaining="").split("—")[0]
    reminder = message(page, header).filter(has_text="Hội trường UBND phường")
    await expect(reminder).to_contain_text("19:30, Thứ Tư 02/12/2026")
    await expect(page.locator("#clock")).to_contain_text("02/12/2026")
    await shot(page, "2-reminder-after-fast-forward")


async def test_a_member_asks_what_is_next_and_sends_feedback(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await page.goto(running_playground.url)
    member = MEMBER_NAMES[2]
    await be(page, member)

    # /hop in the group: the seeded meeting, with its place.
    await say(page, "/hop")
    await expect(message(page, vi("playground.demo.place"))).to_be_visible()

    # /gopy in the group points to the private chat; its button opens and starts it there.
    await say(page, "/gopy")
    await message(page, vi("error.private_only")).get_by_role("button").click()
    await expect(page.locator("#tab-private")).to_have_attribute("aria-pressed", "true")
    menu = message(page, "📮")
    await menu.get_by_role("button", name=vi("feedback.button.kind.proposal")).click()
    await (
        message(page, "muốn gửi đề xuất thế nào")
        .get_by_role("button", name=vi("feedback.button.named"))
        .click()
    )
    await expect(page.locator("#hint")).to_be_visible()
    await say(page, "Đề nghị lắp thêm đèn đường ở ngõ 12.")
    await expect(message(page, "✅ Đã gửi")).to_be_visible()
    await shot(page, "3-member-feedback")

    # Documents the bot sends come down as files: the meeting calendar here.
    await say(page, "/lich")
    link = page.get_by_role("link", name=re.compile(r"lich-chi-bo\.ics"))
    async with page.expect_download() as waiting:
        await link.click()
    download = await waiting.value
    assert download.suggested_filename.endswith(".ics")
    saved = ARTIFACTS / "calendar.ics"
    await download.save_as(str(saved))
    assert "BEGIN:VCALENDAR" in saved.read_text(encoding="utf-8")

    # The private chat is theirs alone: another member's private chat is empty.
    await be(page, MEMBER_NAMES[3])
    await expect(page.locator("#messages")).to_contain_text(vi("playground.empty"))
    await expect(page.locator("#messages")).not_to_contain_text("đèn đường")


async def test_phone_screen_with_large_text_has_no_sideways_scrolling(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await page.goto(running_playground.url)
    await be(page, SECRETARY_NAME)
    await say(page, "/trogiup")
    await expect(page.locator("[data-testid=message].bot").first).to_be_visible()
    for _ in range(4):
        await page.get_by_role("button", name=vi("playground.text.bigger")).click()
    size = await page.evaluate("getComputedStyle(document.documentElement).fontSize")
    assert size == "28px"
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # Buttons stay big enough to hit with an unsteady finger.
    send = await page.locator("#send").bounding_box()
    assert send is not None and send["height"] >= 44
    await shot(page, "4-phone-large-text")


async def test_a_small_phone_shows_chat_input_and_the_menu_keys_on_one_screen(
    running_playground: RunningPlayground, page: Any
) -> None:
    """360×740: the messages, the input box and the menu keys are in view without scrolling,
    and a menu key does its task as a tap on Telegram would."""
    expect = playwright_api.expect
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(running_playground.url)
    await be(page, MEMBER_NAMES[2])
    await page.click("#tab-private")
    await say(page, "/start")
    keys = page.locator("[data-testid=keyboard]")
    await expect(keys.get_by_role("button", name=vi("menu.meetings"))).to_be_visible()
    await keys.get_by_role("button", name=vi("menu.meetings")).click()
    await expect(message(page, vi("playground.demo.place"))).to_be_visible()
    scroll = await page.evaluate(
        "document.documentElement.scrollHeight - document.documentElement.clientHeight"
    )
    assert scroll <= 0
    for part in ("#messages", "#text", "#send", "[data-testid=keyboard]"):
        box = await page.locator(part).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 740, part
    messages = await page.locator("#messages").bounding_box()
    assert messages is not None and messages["height"] >= 150  # the chat keeps real room
    await shot(page, "6-phone-360-menu")


async def test_after_a_restart_the_page_says_the_history_was_reset(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await page.goto(running_playground.url)
    await expect(page.locator("#reset")).to_be_hidden()
    # As if this browser had seen the playground before it was restarted.
    await page.evaluate("localStorage.setItem('chibo-boot', 'an-earlier-start')")
    await page.reload()
    await expect(page.locator("#reset")).to_have_text(vi("playground.reset"))
    await expect(page.locator("#reset")).to_be_visible()


async def test_a_member_answers_a_quiz_in_the_group(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await running_playground.chibo.application.bot.send_poll(
        running_playground.world.group.id,
        "Chi bộ họp thường kỳ mấy lần một tháng?",
        ["Một lần", "Hai lần"],
        type="quiz",
        correct_option_id=0,
        is_anonymous=False,
    )
    await page.goto(running_playground.url)
    await be(page, MEMBER_NAMES[4])
    quiz = message(page, "mấy lần một tháng")
    await expect(quiz).to_contain_text(vi("playground.poll.quiz"))
    await quiz.get_by_role("button", name=re.compile("^Một lần")).click()
    await expect(quiz).to_contain_text("✅ Một lần — 1")
    await expect(quiz.get_by_role("button")).to_have_count(0)  # answered: final
    await shot(page, "5-quiz-answered")


async def test_the_secretary_sends_a_roster_file_privately(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await page.goto(running_playground.url)
    await be(page, SECRETARY_NAME)
    await page.get_by_role("button", name=vi("playground.chat.private")).click()
    await page.set_input_files(
        "#file",
        files=[
            {
                "name": "danh-sach.csv",
                "mimeType": "text/csv",
                "buffer": "Họ và tên;Ngày sinh\nNguyễn Văn An;05/03/1950\n".encode(),
            }
        ],
    )
    await expect(message(page, "Đã nhập 1 đảng viên")).to_contain_text("Nguyễn Văn An")
    await expect(message(page, "danh-sach.csv")).to_be_visible()
    await shot(page, "6-secretary-roster-file")


async def test_a_member_reads_the_seeded_document_and_asks_leave(
    running_playground: RunningPlayground, page: Any
) -> None:
    expect = playwright_api.expect
    await page.goto(running_playground.url)
    member = MEMBER_NAMES[1]
    await be(page, member)

    # The document seeded on first start is in the group, downloadable, with «Đã đọc».
    title = vi("playground.demo.document")
    document = message(page, title)
    await expect(
        document.get_by_role("link", name=re.compile(r"nghi-quyet-chi-bo\.pdf"))
    ).to_be_visible()
    await document.get_by_role("button", name=vi("document.button.read")).click()
    await expect(page.locator("#notice")).to_have_text(vi("document.read_recorded", title=title))
    await shot(page, "7-member-read-document")

    # Asking leave in the group moves to the private chat, where the reason stays.
    await say(page, "/xinvang")
    await message(page, vi("absence.group_hint")).get_by_role("button").click()
    await expect(page.locator("#tab-private")).to_have_attribute("aria-pressed", "true")
    await page.get_by_role("button", name=vi("absence.button.sick")).last.click()
    await page.get_by_role("button", name=vi("absence.button.send")).last.click()
    await expect(message(page, "✅ Đã gửi đơn xin vắng")).to_be_visible()
    await shot(page, "8-member-asked-leave")

    # The group saw no reason; the secretary gets the request privately and approves it.
    await page.locator("#tab-group").click()
    await expect(page.locator("#messages")).not_to_contain_text(vi("absence.button.sick"))
    await be(page, SECRETARY_NAME)
    await page.locator("#tab-private").click()
    card = message(page, "📝 Đơn xin vắng họp").filter(has_text=member)
    await card.get_by_role("button", name=vi("absence.button.approve")).click()
    await expect(message(page, vi("absence.decided.approved"))).to_be_visible()
    await shot(page, "9-secretary-approved")
