"""SQLAlchemy models: the registry (regions, agencies, users, children), the case projection, the
append-only timeline, documents, notifications, the audit log, policy overrides and holiday schedules.

The workflow is the source of truth for where a case is; these tables are what people search and
report on. Only activities write the case tables (cases, case_steps, case_parties, timeline_events,
documents, notifications), each write keyed by (case, seq) so that a retried activity changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    any_,
    false,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, deferred, mapped_column, relationship

JsonDict = dict[str, Any]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {JsonDict: JSONB, datetime: DateTime(timezone=True)}


# ---------------------------------------------------------------------------- registry


class Region(Base):
    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))  # province | prefecture | county
    parent_code: Mapped[str | None] = mapped_column(String(6))
    historical: Mapped[bool] = mapped_column(Boolean, default=False)


class Agency(Base):
    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    agency_type: Mapped[str] = mapped_column(String(40), index=True)
    region_code: Mapped[str] = mapped_column(String(6), ForeignKey("regions.code"), index=True)
    township: Mapped[str | None] = mapped_column(String(64))
    # The agency a case goes to when a step needs "the police of the county" and there are several.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What its document numbers start with (潞公 for 潞州区公安局); empty: derived (domain/documents.py).
    short_name: Mapped[str | None] = mapped_column(String(16))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(64))  # e.g. 儿童主任
    password_hash: Mapped[str] = mapped_column(String(256))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Wrong passwords in a row, and until when the account is locked after too many (ui/auth_pages.py).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    agency: Mapped[Agency] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token: for a user, or for an integration bound to an agency (user_id empty)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class LoginSession(Base):
    """A page login: the cookie holds only a random id, whose SHA-256 is kept here so that logging out,
    a new password or a switched-off account ends it on the server (api/login_sessions.py)."""

    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(8))
    # Empty for a provisional record (domain/identity.py); a real number belongs to one child only.
    id_number: Mapped[str | None] = mapped_column(String(18))
    identity_status: Mapped[str] = mapped_column(String(16), default="verified", server_default="verified")
    no_id_reason: Mapped[str | None] = mapped_column(String(32))
    birth_date: Mapped[date] = mapped_column(Date)
    birth_date_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    origin_region: Mapped[str | None] = mapped_column(String(6), ForeignKey("regions.code"))
    residence_region: Mapped[str] = mapped_column(String(6), ForeignKey("regions.code"), index=True)
    residence_committee_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    address: Mapped[str] = mapped_column(String(256), default="")
    school: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    # A provisional record a person merged into the registered child: kept, its reads lead there.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"), index=True)
    merged_at: Mapped[datetime | None]
    merged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the agencies' lists say (domain/registry.py, api/registry/): the township, the school roll
    # number, since when the child lives here, when a list last named the child, the key-child categories
    # raised ({category: {source, import_id, on}}), where each field's value came from ({field: {source,
    # import_id, on}}) and the sources' other facts (grade, disability kind, insured).
    township: Mapped[str | None] = mapped_column(String(64))
    school_roll_no: Mapped[str | None] = mapped_column(String(32))
    migrant_since: Mapped[date | None] = mapped_column(Date)
    last_refreshed_at: Mapped[datetime | None]
    key_flags: Mapped[JsonDict] = mapped_column(default=dict, server_default="{}")
    provenance: Mapped[JsonDict] = mapped_column(default=dict, server_default="{}")
    registry_facts: Mapped[JsonDict] = mapped_column(default=dict, server_default="{}")
    guardians: Mapped[list[Guardian]] = relationship(
        back_populates="child", order_by="Guardian.id", cascade="all, delete-orphan", lazy="selectin"
    )
    __table_args__ = (
        Index("uq_children_id_number", "id_number", unique=True, postgresql_where=text("id_number IS NOT NULL")),
        CheckConstraint(
            "(identity_status = 'verified') = (id_number IS NOT NULL)", name="ck_children_identity_id_number"
        ),
    )

    @property
    def provisional(self) -> bool:
        return self.identity_status == "provisional"


class Guardian(Base):
    """A guardian (监护人) or another contact person of a child."""

    __tablename__ = "guardians"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str] = mapped_column(String(32))  # 父亲, 母亲, 祖父母, ...
    phone: Mapped[str] = mapped_column(String(32), default="")
    is_guardian: Mapped[bool] = mapped_column(Boolean, default=True)
    child: Mapped[Child] = relationship(back_populates="guardians")


# ---------------------------------------------------------------------------- cases


class CaseRequest(Base):
    """An idempotency key: the same start request sent twice names the same case. The number is reserved
    before the workflow starts; one whose workflow never started is released (worker/reconciler.py)."""

    __tablename__ = "case_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    released_at: Mapped[datetime | None]
    __table_args__ = (
        UniqueConstraint("agency_id", "idempotency_key"),
        Index("ix_case_requests_unreleased", "created_at", postgresql_where=text("released_at IS NULL")),
    )


class ActionRequestRow(Base):
    """An action's request id and what it asked (a hash): the same id sent again with something else is
    refused, not answered with the first one's result (the workflow answers a request id once)."""

    __tablename__ = "action_requests"
    case_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CaseCounter(Base):
    """The last case number a process gave in a county and year (db/case_numbers.py)."""

    __tablename__ = "case_counters"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)  # the process's case-number prefix
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CaseCounterBase(Base):
    """One row: where every new count starts (its first number is base + 1). 0 in a deployment; the tests
    give each database its own block, so that workflow IDs of two databases sharing one Temporal server
    never meet."""

    __tablename__ = "case_counter_base"
    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    base: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (CheckConstraint("id", name="case_counter_base_one_row"),)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    process: Mapped[str] = mapped_column(String(32), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    main_step: Mapped[str | None] = mapped_column(String(48))
    started_by_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    facts: Mapped[JsonDict] = mapped_column(default=dict)
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime]
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Facts the process keeps for lists and reports (domain Process.summary_fields), e.g. the school.
    summary: Mapped[JsonDict] = mapped_column(default=dict, server_default="{}")
    # Set while an activity of this case keeps failing (the automation behind it is stuck).
    automation_error: Mapped[str | None] = mapped_column(Text)
    # Kept for reads (db/case_reads.py): the earliest open step's due time, the parties' ids and scopes.
    next_due_at: Mapped[datetime | None]
    party_agency_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list, server_default="{}")
    party_scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    child: Mapped[Child] = relationship(lazy="joined")
    steps: Mapped[list[CaseStep]] = relationship(lazy="selectin", order_by="CaseStep.track")
    __table_args__ = (
        Index("ix_cases_next_due", "next_due_at", text("opened_at DESC"), "id"),
        Index("ix_cases_open_process", "process", postgresql_where=text("status = 'open'")),
        Index("ix_cases_process_closed_at", "process", "closed_at"),
        Index("ix_cases_party_agency_ids", "party_agency_ids", postgresql_using="gin"),
        Index("ix_cases_party_scopes", "party_scopes", postgresql_using="gin"),
    )


class CaseStep(Base):
    """An open step of a case: one row per track."""

    __tablename__ = "case_steps"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    track: Mapped[str] = mapped_column(String(16), primary_key=True)
    step: Mapped[str] = mapped_column(String(48))
    step_seq: Mapped[int] = mapped_column(Integer)
    holder_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))  # indexed first in ix_case_steps_inbox
    holder_type: Mapped[str] = mapped_column(String(40))
    holder_region: Mapped[str] = mapped_column(String(6))
    co_holder_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    level2_at: Mapped[datetime | None]
    level3_at: Mapped[datetime | None]
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    allowance: Mapped[str | None] = mapped_column(String(16))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    counters: Mapped[JsonDict] = mapped_column(default=dict)
    # A party outside this deployment holding the step (domain/messages.py ExternalParty); the holder
    # agency records its answer.
    external: Mapped[JsonDict | None] = mapped_column(nullable=True)
    holder: Mapped[Agency] = relationship(lazy="joined")
    # The agencies of co_holder_ids (which owns the fact) as {id, name, agency_type, region_code, township},
    # in the order the step named them, read by the statement that reads the step: lists and pages name
    # them as the case page does, at no extra round trip (architecture.md, decision 12).
    co_holders: Mapped[list[JsonDict]] = column_property(
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_object(
                            *("id", Agency.id, "name", Agency.name, "agency_type", Agency.agency_type),
                            *("region_code", Agency.region_code, "township", Agency.township),
                        ),
                        func.array_position(co_holder_ids, Agency.id),
                    )
                ),
                literal([], JSONB),
            )
        )
        .where(Agency.id == any_(co_holder_ids))
        .correlate_except(Agency)
        .scalar_subquery()
    )
    __table_args__ = (
        Index("ix_case_steps_holder_type_region", "holder_type", "holder_region"),
        # 我的待办 (api/cases/lists.py `inbox`): an agency's held steps in the inbox order, and the steps it
        # helps on (co_holder_ids @> ARRAY[agency]); migration 0024.
        Index(
            "ix_case_steps_inbox",
            "holder_agency_id",
            text("coalesce(due_at, 'infinity'::timestamptz)"),
            "case_id",
            "track",
        ),
        Index("ix_case_steps_co_holder_ids", "co_holder_ids", postgresql_using="gin"),
    )


class CaseParty(Base):
    """An agency that may read a case, and from which timeline event on (a receiving agency after a
    hand-over sees only what follows it). Supervisors read by scope, not by party."""

    __tablename__ = "case_parties"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    visible_from_seq: Mapped[int] = mapped_column(Integer, default=0)


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(24))
    track: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str | None] = mapped_column(String(48))
    from_step: Mapped[str | None] = mapped_column(String(48))
    to_step: Mapped[str | None] = mapped_column(String(48))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    actor_name: Mapped[str | None] = mapped_column(String(64))
    actor_agency_name: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[JsonDict] = mapped_column(default=dict)
    due_at: Mapped[datetime | None]  # the next step's deadline, when the event opened one
    __table_args__ = (UniqueConstraint("case_id", "seq"),)


class TransferPacketRecord(Base):
    """A transfer packet this deployment exported or imported (domain/packets.py): an id imported once is
    refused the second time."""

    __tablename__ = "transfer_packets"
    packet_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    peer: Mapped[str] = mapped_column(String(64))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(128))
    fields: Mapped[JsonDict] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    # Set once, when the document is issued (db/documents.py): who issued it, its number (文号) and what it
    # said then (domain/documents.DocumentSnapshot), which every later reading renders.
    issuer_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    number: Mapped[str | None] = mapped_column(String(64))
    snapshot: Mapped[JsonDict | None]
    __table_args__ = (
        UniqueConstraint("case_id", "seq", "kind"),
        Index(
            "uq_documents_issuer_number",
            "issuer_agency_id",
            "number",
            unique=True,
            postgresql_where=text("number IS NOT NULL"),
        ),
    )


class Attachment(Base):
    """A file a party uploaded to a case (a scanned consent form), written by the API (not an activity: it
    is no part of the case's state until an action names it). Its bytes are encrypted at rest (AES-GCM,
    api/attachments/crypto.py, key `key_id`); no file name is kept, since a name may be a child's. The same
    bytes uploaded to the case again are the same row (case, sha256)."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(32))  # sniffed from the bytes (domain/attachments.py)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    # Loaded only when the file is served.
    sealed: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    uploaded_by_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    uploaded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # When an action last named it (api/attachments/fields.py): the sweep of unnamed attachments waits on
    # it, since the action's event may still be on its way.
    named_at: Mapped[datetime | None]
    # A recorded event names it: the sweep keeps it and never reads it again.
    recorded: Mapped[bool] = mapped_column(default=False, server_default=false())
    __table_args__ = (
        UniqueConstraint("case_id", "sha256", name="uq_attachments_case_sha256"),
        Index(
            "ix_attachments_unrecorded", text("coalesce(named_at, created_at)"), postgresql_where=text("NOT recorded")
        ),
        CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')", name="ck_attachments_type"),
    )


class DocumentCounter(Base):
    """The last number an agency gave documents of one word (训字) in a year (db/documents.py)."""

    __tablename__ = "document_counters"
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    word: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Notification(Base):
    """An inbox entry for an agency (role empty: everyone there; 'supervisor': its supervisors), or for one
    person of it (user_id set: only that user sees it). Whether it was read is kept per user."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What it is about: a case, or a county's six-monthly registry refresh (RegistryRefresh).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    refresh_id: Mapped[int | None] = mapped_column(ForeignKey("registry_refreshes.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="")
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    # The step a notice about a step announced (new, overdue, escalated, urged): the notice is settled
    # (no longer unread, shown as 已办结) once that step is done, moved away from its recipient, or the case
    # closes (activities/projection.py `CASE_SQL`).
    track: Mapped[str | None] = mapped_column(String(16))
    step_seq: Mapped[int | None] = mapped_column(Integer)
    settled_at: Mapped[datetime | None]
    # One row per event and recipient: a retried activity writes nothing twice (NULL user = the agency).
    __table_args__ = (
        UniqueConstraint(
            "case_id",
            "refresh_id",
            "seq",
            "agency_id",
            "user_id",
            "role",
            "kind",
            name="uq_notifications_recipient",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("(case_id IS NULL) <> (refresh_id IS NULL)", name="ck_notifications_about_one"),
    )


class RegistryRefresh(Base):
    """One county's registry refresh for one half-year (domain/refresh.py): when it is due, how far it has
    escalated, and when it was done and by whom. Written by the refresh workflow's activities only."""

    __tablename__ = "registry_refreshes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county: Mapped[str] = mapped_column(String(6), ForeignKey("regions.code"), index=True)
    period: Mapped[str] = mapped_column(String(8))  # e.g. 2027H1
    workflow_id: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime]
    level2_at: Mapped[datetime]
    level3_at: Mapped[datetime]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_at: Mapped[datetime | None]
    done_by_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    done_by_name: Mapped[str | None] = mapped_column(String(128))
    import_ref: Mapped[str | None] = mapped_column(String(64))  # the registry's applied change set
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("county", "period", name="uq_registry_refreshes_county_period"),)


class NotificationRead(Base):
    """That a user has read a notification (an agency-wide one is read by each of its people)."""

    __tablename__ = "notification_reads"
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    read_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AuditEntry(Base):
    """Who read or changed which case, when."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    case_no: Mapped[str | None] = mapped_column(String(32), index=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"))
    action: Mapped[str] = mapped_column(String(32))  # read | start | act | supervise | ...
    detail: Mapped[str] = mapped_column(String(256), default="")
    channel: Mapped[str] = mapped_column(String(8), default="page")  # page | api


# ---------------------------------------------------------------------------- policy and calendar


class PolicyOverrideRow(Base):
    __tablename__ = "policy_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    region_code: Mapped[str] = mapped_column(String(6))
    value: Mapped[str] = mapped_column(String(16))
    effective_from: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class HolidayYear(Base):
    """A year whose official schedule an admin loaded (it then wins over the calendar package)."""

    __tablename__ = "holiday_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(256), default="")
    loaded_at: Mapped[datetime] = mapped_column(server_default=func.now())
    loaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class HolidayDay(Base):
    __tablename__ = "holiday_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("holiday_years.year", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # holiday | workday
    name: Mapped[str] = mapped_column(String(32), default="")


class DeadlineInputsVersion(Base):
    """One row, bumped by triggers whenever a policy override, a holiday schedule or a school term changes
    (migrations 0013, 0027): what dates are counted from is kept in memory and reloaded when the version
    moves (db/deadline_inputs.py)."""

    __tablename__ = "deadline_inputs_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class SchoolTermRow(Base):
    """A county's school term and the holidays within it (校历), set by its education bureau each term
    (domain/school_calendar.py). School days are counted on it; its holidays are {starts_on, ends_on, label}."""

    __tablename__ = "school_terms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county: Mapped[str] = mapped_column(String(6), index=True)
    label: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    holidays: Mapped[list[JsonDict]] = mapped_column(JSONB, default=list)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


# ---------------------------------------------------------------------------- the outbound channel


class AgencyWebhook(Base):
    """Where an agency's notifications of hour-level steps are also sent: the city's message gateway (SMS,
    政务微信), with the secret that signs each message (activities/outbound.py)."""

    __tablename__ = "agency_webhooks"
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    secret: Mapped[str] = mapped_column(String(256))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OutboundDelivery(Base):
    """The delivery log: one row per notification sent out, its attempts and its last error."""

    __tablename__ = "outbound_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[JsonDict] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]
    # When its delivery workflow found it failing and undelivered past `outbound_undelivered_after`.
    marked_at: Mapped[datetime | None]


class CarePeriodRow(Base):
    """A care period the city set (domain/care_periods.py); none set: the defaults hold."""

    __tablename__ = "care_periods"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


# ---------------------------------------------------------------------------- the registry's imports


class RegistryImport(Base):
    """One agency's spreadsheet uploaded for a county: checked whole (problems listed, nothing applied while
    there is one), then its change set reviewed and applied in whole or in part (api/registry/)."""

    __tablename__ = "registry_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(24))
    county: Mapped[str] = mapped_column(String(6), ForeignKey("regions.code"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(128), default="")
    file_hash: Mapped[str] = mapped_column(String(64))
    # checking | invalid | ready | partial | applied
    status: Mapped[str] = mapped_column(String(16), default="checking")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_checked: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[JsonDict]] = mapped_column(JSONB, default=list)
    # The children this file names (matched on the ID number): applying marks them seen by the source.
    seen_child_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    checked_at: Mapped[datetime | None]
    applied_at: Mapped[datetime | None]
    check_ms: Mapped[int | None] = mapped_column(Integer)
    # The children the change set was computed against (matched, or offered as candidates) and a
    # fingerprint of what the check read of each: applying re-reads them and refuses if one changed since.
    # None: checked before the re-check existed (refused at apply: the file is imported again).
    checked_child_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    checked_fingerprints: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    # When the check last wrote its progress: one silent too long died with its web process.
    progress_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_registry_imports_source_county", "source", "county", "file_hash"),)


class RegistryChange(Base):
    """One item of an import's change set: new | left | moved | changed | flagged | candidate."""

    __tablename__ = "registry_changes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    row_no: Mapped[int | None] = mapped_column(Integer)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"), index=True)
    # The row's cells in its template's order (domain/registry.py template_cells), kept only while the item
    # still has to be applied and needs more than its diff (new, candidate, a changed guardian phone);
    # cleared when it is decided: the child's record then holds the values, with their provenance.
    cells: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    # {field: [before, after]} for changed and moved, {"flags": [...]} for flagged.
    diff: Mapped[JsonDict] = mapped_column(default=dict)
    # pending | applied | rejected (a candidate a person said is not the child)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_registry_changes_import_kind", "import_id", "kind", "id"),)


class ChildSource(Base):
    """That a source's list for a county named the child: the next list without the child shows them as left."""

    __tablename__ = "child_sources"
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(24), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    first_import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id"))
    last_import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id"))
    last_seen_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_child_sources_present", "source", "county", postgresql_where=text("left_at IS NULL")),)


class KeyChildStart(Base):
    """A follow-up the registry's apply owes a flagged key child, written in the apply's own transaction so
    that a crash after its commit loses none: the web app starts it at once, the worker's reconciler any
    left waiting (api/registry/key_child_starts.py). Done once started, answered by an open case, or
    refused (e.g. past the process's age limit)."""

    __tablename__ = "key_child_starts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id", ondelete="CASCADE"))
    process: Mapped[str] = mapped_column(String(32))
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    facts: Mapped[JsonDict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))  # started | existing | refused
    case_no: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))  # why refused (a DomainError code), no personal data
    __table_args__ = (
        UniqueConstraint("import_id", "process", "child_id", name="uq_key_child_starts_import_process_child"),
        Index("ix_key_child_starts_waiting", "created_at", postgresql_where=text("done_at IS NULL")),
    )


class RegistryProposal(Base):
    """A case the registry proposes (a pupil on last term's roll and on no roll this term): a person of the
    agency the process names confirms it and the case starts, or rejects it. Never started without one."""

    __tablename__ = "registry_proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    process: Mapped[str] = mapped_column(String(32))
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    county: Mapped[str] = mapped_column(String(6))
    change_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("registry_changes.id"))
    facts: Mapped[JsonDict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | confirmed | rejected
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    case_no: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (UniqueConstraint("change_id", "process"), Index("ix_registry_proposals_open", "county", "status"))
