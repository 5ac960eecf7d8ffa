"""Document numbers (文号): one count per issuing agency, word and year, taken in the transaction that issues
the document, so that concurrent issues get distinct numbers, a document is never numbered twice, and a
rolled-back issue leaves no gap. Real PostgreSQL and Temporal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from db.documents import issue_document
from db.models import Case, Document, DocumentCounter
from db.session import transaction
from tests import support
from tests.conftest import Live
from tests.ui.test_documents_pdf import documents_of, reprimand_case, year


async def _extra_document(live: Live, case_no: str, seq: int) -> int:
    async with transaction(live.db.sf) as s:
        case_id = (await s.execute(select(Case.id).where(Case.case_no == case_no))).scalar_one()
        doc = Document(
            case_id=case_id, seq=seq, kind="reprimand", title="训诫书", fields={}, created_at=datetime.now(UTC)
        )
        s.add(doc)
        await s.flush()
        return doc.id


async def _issue(live: Live, doc_id: int, issuer: int, *, fail: bool = False) -> None:
    async with transaction(live.db.sf) as s:
        doc = await s.get(Document, doc_id)
        assert doc is not None
        await issue_document(s, doc, issuer)
        if fail:
            raise RuntimeError("the activity fails after numbering")


async def test_numbers_are_distinct_never_repeated_and_leave_no_gap(live: Live) -> None:
    no = await reprimand_case(live, "王小明")
    court = await support.agency_id(live.db, "luzhou-court")
    [first] = await documents_of(live, no)
    await _issue(live, first.id, court)  # issued already: nothing changes
    a, b, c = [await _extra_document(live, no, seq) for seq in (101, 102, 103)]
    try:
        await _issue(live, a, court, fail=True)
    except RuntimeError:
        pass
    await asyncio.gather(_issue(live, b, court), _issue(live, c, court))
    await _issue(live, a, court)
    async with live.db.sf() as s:
        numbers = dict((await s.execute(select(Document.id, Document.number).where(Document.id.in_([a, b, c])))).all())
        last = (
            await s.execute(
                select(DocumentCounter.last).where(DocumentCounter.agency_id == court, DocumentCounter.word == "训字")
            )
        ).scalar_one()
    assert (await documents_of(live, no))[0].number == f"潞法训字〔{year()}〕第1号"
    assert sorted(numbers.values()) == [f"潞法训字〔{year()}〕第{n}号" for n in (2, 3, 4)]
    assert numbers[a] == f"潞法训字〔{year()}〕第4号"  # the rolled-back issue gave its number back
    assert last == 4
