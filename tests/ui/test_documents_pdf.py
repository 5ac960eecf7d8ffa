"""Official documents (文书) as PDF: each has its number (文号, counted per issuing agency, word and year), the
child's facts as they were when it was issued (a later change of address does not change it), the place of
the seal and the service receipt (送达回证); the case file (案卷) holds the facts, every step, every action
with who and when, and every document. Read back with pypdf. Real PostgreSQL, Temporal and the web app."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import httpx
from pypdf import PdfReader
from sqlalchemy import select, text

from db.models import AuditEntry, Case, Document
from domain.deadlines import local_date
from domain.documents import derive_short_name
from domain.enums import AgencyType as T
from tests import support
from tests.conftest import Live, make_token
from tests.ui.test_dropout_pages import start_by_service
from tests.ui.test_pages import browser

OLD_ADDRESS = "东街街道城北社区3号楼"
NEW_ADDRESS = "西街街道新华小区9号楼"


def pdf_text(content: bytes) -> str:
    """The PDF's text without the spaces and line breaks the layout puts between characters."""
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in reader.pages))


def year() -> int:
    return local_date(datetime.now(UTC)).year


async def moved_house(live: Live, child: str) -> None:
    """The registry changes after the document was issued: a new address and a renamed guardian."""
    async with live.db.engine.begin() as conn:
        await conn.execute(text("UPDATE children SET address = :a WHERE name = :n"), {"a": NEW_ADDRESS, "n": child})
        await conn.execute(
            text("UPDATE guardians SET name = '王建设' WHERE name = '王建国'"),
        )


async def documents_of(live: Live, case_no: str) -> list[Document]:
    async with live.db.sf() as s:
        rows = await s.execute(
            select(Document)
            .join(Case, Case.id == Document.case_id)
            .where(Case.case_no == case_no)
            .order_by(Document.seq)
        )
        return list(rows.scalars())


async def reprimand_case(live: Live, child: str, *, order: bool = True) -> str:
    """The court, handling a case, reprimands the guardians itself (processes.md §1); without an order of
    family-education guidance the committee monitors next."""
    vc = await support.agency_id(live.db, "luzhou-vc1")
    no = await support.start(
        live.db,
        live.temporal,
        live.task_queue,
        "luzhou-court",
        child=child,
        step="reprimand",
        facts={"village_committee_id": vc},
    )
    issue = support.form(
        "issue_reprimand", content="监护人王建国长期外出务工，将儿童独自留在家中", family_education_order=order
    )
    await support.act(live.db, live.temporal, no, "luzhou-court", "issue_reprimand", issue)
    return no


def test_short_names_are_derived_from_the_name_and_the_county() -> None:
    assert derive_short_name("潞州区公安局", T.police, "潞州区") == "潞公"
    assert derive_short_name("潞州区人民法院", T.court, "潞州区") == "潞法"
    assert derive_short_name("长治市人民检察院", T.procuratorate, "长治市") == "长检"
    assert derive_short_name("潞州区公安局西街派出所", T.police, "潞州区") == "潞公西"
    assert derive_short_name("襄垣县教育局", T.education_bureau, "襄垣县") == "襄教"
    assert derive_short_name("中共潞州区委政法委员会", T.political_legal_committee, "潞州区") == "潞政法"


async def test_a_reprimand_is_numbered_frozen_at_issue_and_downloaded_as_pdf(live: Live) -> None:
    no = await reprimand_case(live, "王小明")
    second = await reprimand_case(live, "李娜")
    [doc] = await documents_of(live, no)
    [other] = await documents_of(live, second)
    number = f"潞法训字〔{year()}〕第1号"
    assert (doc.number, other.number) == (number, f"潞法训字〔{year()}〕第2号")  # one count per agency and year
    await moved_house(live, "王小明")

    async with browser(live, "luzhou-court") as court:
        case_page = await court.get(f"/cases/{no}")
        assert f'href="/cases/{no}/documents/{doc.id}/pdf"' in case_page.text and number in case_page.text
        assert f'href="/cases/{no}/file"' in case_page.text and f'href="/cases/{no}/file/pdf"' in case_page.text
        page = await court.get(f"/cases/{no}/documents/{doc.id}")
        assert page.status_code == 200 and number in page.text and "下载PDF" in page.text
        assert OLD_ADDRESS in page.text and NEW_ADDRESS not in page.text and "王建设" not in page.text
        pdf = await court.get(f"/cases/{no}/documents/{doc.id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    words = pdf_text(pdf.content)
    for expected in (
        "训诫书",
        number,
        "王小明",
        "2015年3月12日",
        OLD_ADDRESS,
        "王建国（父亲）",
        "监护人王建国长期外出务工，将儿童独自留在家中",
        "第一百一十八条",
        "盖章处",
        "潞州区人民法院（盖章）",
        "送达回证",
        "受送达人王建国、李秀英",
    ):
        assert expected in words, expected
    assert NEW_ADDRESS not in words and "王建设" not in words
    box = PdfReader(io.BytesIO(pdf.content)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 (210 × 297 mm) in points

    # Another county's committee does not see the case, nor its documents.
    async with browser(live, "shangdang-vc1") as stranger:
        assert (await stranger.get(f"/cases/{no}/documents/{doc.id}/pdf")).status_code == 404
    async with live.db.sf() as s:
        reads = (
            await s.execute(
                select(AuditEntry.action).where(AuditEntry.case_no == no, AuditEntry.action == "read_document")
            )
        ).scalars()
        assert len(list(reads)) == 2  # the page and the PDF
        [again] = (await s.execute(select(Document).where(Document.id == doc.id))).scalars()
        assert again.number == number and again.snapshot and again.snapshot["child"]["address"] == OLD_ADDRESS


async def test_the_written_order_and_the_transfer_packet_as_pdf(live: Live) -> None:
    no = await start_by_service(live, "luzhou-school1", "王小明")
    await support.act(live.db, live.temporal, no, "luzhou-school1", "not_returned", support.form("not_returned"))
    await support.act(live.db, live.temporal, no, "luzhou-edu", "record_attempt", support.form("record_attempt"))
    await support.act(live.db, live.temporal, no, "luzhou-edu", "refuses", support.form("refuses"))
    await support.act(live.db, live.temporal, no, "luzhou-edu", "issue_order", support.form("issue_order"))
    [order] = await documents_of(live, no)
    await moved_house(live, "王小明")
    async with browser(live, "luzhou-edu") as bureau:
        pdf = await bureau.get(f"/cases/{no}/documents/{order.id}/pdf")
    assert pdf.status_code == 200
    words = pdf_text(pdf.content)
    number = f"潞教责改字〔{year()}〕第1号"
    assert order.number == number
    for expected in (
        "责令限期改正通知书",
        number,
        "王小明",
        "潞州区实验小学四年级二班",
        "第五十八条",
        "责令监护人于期限内送子女入学",
        "潞州区教育局（盖章）",
        "盖章处",
        "送达回证",
        f"送达地点{OLD_ADDRESS}",
    ):
        assert expected in words, expected
    assert NEW_ADDRESS not in words

    # The guardianship case's transfer packet when the child moves to 上党区.
    reprimanded = await reprimand_case(live, "李娜", order=False)
    moved = {
        "destination_region": "140404",
        "destination_agency_id": await support.agency_id(live.db, "shangdang-vc1"),
        "destination_address": "上党区韩店街道某小区",
        "note": "随父母迁居",
    }
    await support.act(live.db, live.temporal, reprimanded, "luzhou-vc1", "child_moved", moved, step=None)
    packet = next(d for d in await documents_of(live, reprimanded) if d.kind == "transfer_packet")
    assert packet.number == f"潞东移字〔{year()}〕第1号"
    async with browser(live, "luzhou-vc1") as committee:
        pdf = await committee.get(f"/cases/{reprimanded}/documents/{packet.id}/pdf")
    assert pdf.status_code == 200
    words = pdf_text(pdf.content)
    for expected in ("迁出移交函", packet.number, "李娜", "东街街道城北社区7号院", "回执", "送达回证", "盖章处"):
        assert expected in words, expected


async def test_the_case_file_holds_every_step_action_and_document(live: Live) -> None:
    no = await reprimand_case(live, "王小明")
    [doc] = await documents_of(live, no)
    await moved_house(live, "王小明")
    async with browser(live, "luzhou-court") as court:
        page = await court.get(f"/cases/{no}/file")
        pdf = await court.get(f"/cases/{no}/file/pdf")
    assert page.status_code == 200 and "打印案卷" in page.text and "下载案卷PDF" in page.text
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    words = pdf_text(pdf.content)
    for expected in (
        "案卷",
        no,
        "监护人长期外出，儿童独自在家",  # the start facts
        "办理环节",
        "训诫",
        "办理记录",
        "立案",
        "制发训诫书",
        "潞州区人民法院经办人",  # who acted
        "潞州区人民法院",
        doc.number,
        OLD_ADDRESS,  # the document as issued
        NEW_ADDRESS,  # the child as now, on the cover
        "送达回证",
    ):
        assert expected and expected in words, expected

    # Through the API with a token, read as the case page is; another county's agency is refused.
    token = await make_token(live.db, "luzhou-court")
    stranger = await make_token(live.db, "shangdang-vc1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app), base_url="http://testserver") as api:
        auth = {"Authorization": f"Bearer {token}"}
        case_file = await api.get(f"/api/v1/cases/{no}/file/pdf", headers=auth)
        one = await api.get(f"/api/v1/cases/{no}/documents/{doc.id}/pdf", headers=auth)
        refused = await api.get(f"/api/v1/cases/{no}/file/pdf", headers={"Authorization": f"Bearer {stranger}"})
        spec = (await api.get("/api/v1/openapi.json")).json()
    assert case_file.status_code == 200 and doc.number in pdf_text(case_file.content)
    assert one.status_code == 200 and doc.number in pdf_text(one.content)
    assert refused.status_code == 404 and "无权查看" in refused.json()["error"]["message"]
    media = spec["paths"]["/api/v1/cases/{case_no}/file/pdf"]["get"]["responses"]["200"]["content"]
    assert "application/pdf" in media
    async with live.db.sf() as s:
        actions = set((await s.execute(select(AuditEntry.action).where(AuditEntry.case_no == no))).scalars())
    assert "read_case_file" in actions


async def test_an_admin_sets_the_short_name_the_numbers_start_with(live: Live) -> None:
    first = await reprimand_case(live, "王小明")
    court = await support.agency_id(live.db, "luzhou-court")
    admin = {"Authorization": f"Bearer {await make_token(live.db, 'admin')}"}
    url = f"/api/v1/admin/agencies/{court}"
    bad = await live.http.patch(url, json={"short_name": "LZ法院"}, headers=admin)
    assert bad.status_code == 422 and "文号简称应为1至8个汉字" in bad.text
    assert (await live.http.get(url, headers=admin)).json()["short_name"] == "潞法"  # derived, unchanged
    done = await live.http.patch(url, json={"short_name": "潞区法"}, headers=admin)
    assert done.status_code == 200 and done.json()["short_name"] == "潞区法"
    second = await reprimand_case(live, "李娜")
    [old] = await documents_of(live, first)
    [new] = await documents_of(live, second)
    # The count is the agency's: it goes on under the new name; the number already issued stays.
    assert (old.number, new.number) == (f"潞法训字〔{year()}〕第1号", f"潞区法训字〔{year()}〕第2号")
    async with browser(live, "admin") as page:
        edit = await page.get(f"/admin/agencies/{court}")
        assert 'name="short_name" value="潞区法"' in edit.text and 'placeholder="潞法"' in edit.text
