"""Attachments of a case (a scanned consent form): their kinds, and what a file is, told from its bytes.

The type a client names (a file name's extension, the part's Content-Type) is not believed: a file is taken
only if its first bytes are those of a PDF, a JPEG or a PNG, and it is served back as that type."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError


@dataclass(frozen=True)
class FileType:
    media_type: str
    extension: str
    magic: bytes


FILE_TYPES = (
    FileType("application/pdf", "pdf", b"%PDF-"),
    FileType("image/jpeg", "jpg", b"\xff\xd8\xff"),
    FileType("image/png", "png", b"\x89PNG\r\n\x1a\n"),
)
MEDIA_TYPES = tuple(t.media_type for t in FILE_TYPES)
ACCEPT = ",".join((*MEDIA_TYPES, ".pdf", ".jpg", ".jpeg", ".png"))
NOT_ACCEPTED = "只能上传PDF、JPG或PNG格式的扫描件（以文件内容判断，改扩展名无效）"

# The kinds of attachment, by the name a field's `attachment` gives, with what a reader calls them.
ATTACHMENT_KINDS = {"consent_form": "知情同意书扫描件"}


def sniff(head: bytes) -> FileType:
    """The type of a file from its first bytes; anything but a PDF, a JPEG or a PNG is refused."""
    for t in FILE_TYPES:
        if head.startswith(t.magic):
            return t
    raise DomainError("file_type_not_accepted", NOT_ACCEPTED, field="file")


def file_type(media_type: str) -> FileType:
    return next(t for t in FILE_TYPES if t.media_type == media_type)


def kind_label(kind: str) -> str:
    return ATTACHMENT_KINDS.get(kind, "附件")


def size_label(limit: int) -> str:
    """A size limit as a clerk reads it: 10MB, 512KB."""
    mb = limit / (1024 * 1024)
    return f"{mb:g}MB" if mb >= 1 else f"{limit // 1024}KB"
