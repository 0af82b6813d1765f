"""Serves stored documents behind Zalo's signed links: the bytes come from the platform that
holds the file (Telegram's getFile), since Zalo cannot carry files at all."""

from __future__ import annotations

from telegram import Bot

from bot.links import ServedFile
from bot.telegram import MAX_DOWNLOAD_BYTES, TelegramGateway
from handlers.core import Platform
from storage.documents import DocumentRepository


class TelegramHeldDocuments:
    """A ``bot.links.DocumentSource`` for documents whose file Telegram keeps."""

    def __init__(self, documents: DocumentRepository, bot: Bot) -> None:
        self._documents = documents
        self._gateway = TelegramGateway(bot)

    async def open_document(self, document_id: int, member_id: int | None) -> ServedFile | None:
        document = await self._documents.get(document_id)
        if (
            document is None
            or document.platform != Platform.TELEGRAM
            or document.platform_file_id is None
            or (document.size or 0) > MAX_DOWNLOAD_BYTES
        ):
            return None
        content = await self._gateway.download(document.platform_file_id)
        return ServedFile(
            document.file_name or f"tai-lieu-{document.id}",
            content,
            document.mime_type or "application/octet-stream",
        )
