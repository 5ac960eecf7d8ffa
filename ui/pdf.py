"""HTML to PDF with WeasyPrint: A4 and the CJK face of ui/static/pdf.css (fonts-noto-cjk, Debian)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from weasyprint import CSS, HTML

STATIC = Path(__file__).resolve().parent / "static"
_STYLE = CSS(filename=str(STATIC / "pdf.css"))

PDF_MEDIA_TYPE = "application/pdf"


def pdf_bytes(html: str) -> bytes:
    return HTML(string=html, base_url=str(STATIC)).write_pdf(stylesheets=[_STYLE])


async def to_pdf(html: str) -> bytes:
    """Laying out a PDF takes a CPU for a while: off the event loop, so that other requests go on."""
    return await asyncio.to_thread(pdf_bytes, html)
