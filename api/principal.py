"""Who is asking: a logged-in user (page session or personal token) or an integration (agency token)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Agency, User
from domain.enums import AgencyType, Role
from domain.messages import Actor, AgencyRef
from domain.regions import is_city_level


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    username: str
    display_name: str
    role: Role
    agency: AgencyRef
    title: str | None = None
    token_id: int | None = None
    channel: str = "page"  # page | api

    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, user_name=self.display_name, agency=self.agency, role=self.role)

    @property
    def is_supervisor(self) -> bool:
        return self.role == Role.supervisor

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_city(self) -> bool:
        return is_city_level(self.agency.region_code)


def agency_ref(a: Agency) -> AgencyRef:
    return AgencyRef(
        id=a.id, name=a.name, agency_type=AgencyType(a.agency_type), region_code=a.region_code, township=a.township
    )


def principal_of(user: User, *, channel: str = "page", token_id: int | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        agency=agency_ref(user.agency),
        title=user.title,
        token_id=token_id,
        channel=channel,
    )


async def load_principal(session: AsyncSession, username: str, *, channel: str = "page") -> Principal | None:
    user = (
        await session.execute(select(User).where(User.username == username, User.is_active.is_(True)))
    ).scalar_one_or_none()
    return principal_of(user, channel=channel) if user else None
