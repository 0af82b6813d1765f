"""Roster import: the secretary sends a CSV or XLSX file privately; every row is checked, and
the roster is written in one transaction only when every row is good."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from handlers.context import Context, UserError
from handlers.core import Reply
from handlers.roster_file import MAX_FILE_BYTES, ParsedRoster, RosterFileError, parse_roster
from storage.models import Role

MAX_LINES_SHOWN = 40
SUPPORTED_SUFFIXES = (".csv", ".xlsx")


async def receive_document(context: Context, _data: dict[str, object]) -> list[Reply]:
    attachment = context.inbound.attachment
    if attachment is None:
        return [Reply(context.t("error.not_understood"))]
    actor = context.actor
    if actor is None or actor.role is not Role.SECRETARY:
        raise UserError("import.secretary_only")
    cell = context.require_cell()
    if not attachment.file_name.lower().endswith(SUPPORTED_SUFFIXES):
        raise UserError("roster.error.file_type")
    # The reader refuses a bigger file too; asking first saves the download.
    if attachment.size is not None and attachment.size > MAX_FILE_BYTES:
        raise UserError("import.too_big", limit="2 MB")
    content = await context.gateway.download(attachment.file_id)
    today = context.now.astimezone(ZoneInfo(cell.timezone)).date()
    try:
        # Parsing an XLSX is CPU work: keep it off the event loop.
        parsed = await asyncio.to_thread(parse_roster, attachment.file_name, content, today=today)
    except RosterFileError as error:
        raise UserError(error.key, **error.values) from None
    if parsed.problems:
        return [Reply(_problems_text(context, parsed))]
    imported = await context.services.members.import_roster(
        cell_id=cell.id,
        rows=[row for _, row in parsed.rows],
        actor=context.audit_actor,
        now=context.now,
    )
    lines = [context.t("import.done", count=imported, cell=cell.name)]
    lines += [
        context.t("import.row_ok", line=line, name=row.full_name) for line, row in parsed.rows
    ]
    return [Reply("\n".join(_capped(context, lines)))]


def _problems_text(context: Context, parsed: ParsedRoster) -> str:
    lines = [context.t("import.rejected", count=len({p.line for p in parsed.problems}))]
    lines += [context.t(p.key, line=p.line, **p.values) for p in parsed.problems]
    lines.append(context.t("import.nothing_saved"))
    return "\n".join(_capped(context, lines))


def _capped(context: Context, lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LINES_SHOWN:
        return lines
    hidden = len(lines) - MAX_LINES_SHOWN + 1
    return [*lines[: MAX_LINES_SHOWN - 2], context.t("import.more", count=hidden), lines[-1]]
