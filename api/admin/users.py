"""用户管理 (admins): accounts of the clerks, supervisors and administrators: list, create, switch off and on,
reset a password, change role, name or title. Every change leaves an audit entry (never the password)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import login_sessions
from api.admin.service import require_admin
from api.audit import audit
from api.principal import Principal
from api.security import check_password_strength, hash_password
from db.models import Agency, ApiToken, User
from db.seed import ADMIN_AGENCY_CODE
from domain.enums import ROLE_LABELS, Role
from domain.errors import DomainError

USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
USERNAME_RULE = "用户名为3至64位小写字母、数字或 . _ -"
NAME_MAX = 64  # users.display_name and users.title


class UserFilter(BaseModel):
    region_code: str | None = None  # the agency's county (or the city)
    agency_type: str | None = None
    agency_id: int | None = None
    active: bool | None = None
    q: str | None = None  # part of the username or the display name
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)


@dataclass
class UserPage:
    items: list[User]
    total: int
    page: int
    per_page: int


class UserCreateIn(BaseModel):
    username: str = Field(max_length=64)
    display_name: str = Field(max_length=64)
    title: str | None = Field(default=None, max_length=64)  # e.g. 儿童主任
    agency_id: int | None = None
    role: str = Field(default=Role.operator.value, max_length=16)
    password: str = Field(max_length=128)


class UserUpdateIn(BaseModel):
    """Only the fields sent are changed; `title` sent as null or "" clears it."""

    is_active: bool | None = None
    role: str | None = Field(default=None, max_length=16)
    display_name: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=64)


class PasswordIn(BaseModel):
    password: str = Field(max_length=128)


def _like(text: str) -> str:
    """A substring pattern for ILIKE with % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_users(*, session: AsyncSession, principal: Principal, f: UserFilter) -> UserPage:
    require_admin(principal)
    conds = []
    if f.region_code:
        conds.append(Agency.region_code == f.region_code)
    if f.agency_type:
        conds.append(Agency.agency_type == f.agency_type)
    if f.agency_id is not None:
        conds.append(User.agency_id == f.agency_id)
    if f.active is not None:
        conds.append(User.is_active.is_(f.active))
    q = (f.q or "").strip()
    if q:
        conds.append(or_(User.username.ilike(_like(q), escape="\\"), User.display_name.ilike(_like(q), escape="\\")))
    base = select(User).join(Agency, Agency.id == User.agency_id).where(*conds)
    total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = (
        await session.execute(
            base.order_by(Agency.region_code, Agency.name, Agency.id, User.username)
            .offset((f.page - 1) * f.per_page)
            .limit(f.per_page)
        )
    ).scalars()
    return UserPage(items=list(rows), total=total, page=f.page, per_page=f.per_page)


async def get_user(*, session: AsyncSession, principal: Principal, user_id: int) -> User:
    require_admin(principal)
    user = await session.get(User, user_id)
    if user is None:
        raise DomainError("user_not_found", "用户不存在")
    return user


async def admin_agency(session: AsyncSession) -> Agency | None:
    """The agency administrator accounts belong to (the city civil-affairs bureau, as the seed sets up)."""
    return (await session.execute(select(Agency).where(Agency.code == ADMIN_AGENCY_CODE))).scalar_one_or_none()


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise DomainError("field_invalid", "角色应为经办人、督导或管理员", field="role") from None


async def _check_admin_agency(session: AsyncSession, role: Role, agency_id: int) -> None:
    if role != Role.admin:
        return
    home = await admin_agency(session)
    if home is None or home.id != agency_id:
        where = home.name if home else ADMIN_AGENCY_CODE
        raise DomainError("field_invalid", f"管理员账号只能设在{where}", field="role")


def _text(value: str | None, field: str, label: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise DomainError("field_required", f"请填写{label}", field=field)
        return None
    if len(text) > NAME_MAX:
        raise DomainError("field_invalid", f"{label}不能超过{NAME_MAX}个字", field=field)
    return text


def _password(password: str, username: str) -> str:
    check_password_strength(password)
    if password.lower() == username.lower():
        raise DomainError("weak_password", "密码不能与用户名相同", field="password")
    return hash_password(password)


async def _username_free(session: AsyncSession, username: str) -> None:
    taken = (await session.execute(select(User.id).where(User.username == username))).first()
    if taken:
        raise DomainError("username_taken", f"用户名“{username}”已被使用", field="username")


async def create_user(*, session: AsyncSession, principal: Principal, data: UserCreateIn) -> User:
    require_admin(principal)
    username = data.username.strip()
    if not USERNAME.fullmatch(username):
        raise DomainError("field_invalid", USERNAME_RULE, field="username")
    display_name = _text(data.display_name, "display_name", "姓名", required=True)
    title = _text(data.title, "title", "职务", required=False)
    if data.agency_id is None:
        raise DomainError("field_required", "请选择所属单位", field="agency_id")
    agency = await session.get(Agency, data.agency_id)
    if agency is None:
        raise DomainError("agency_unknown", "所选单位不存在", field="agency_id")
    if not agency.is_active:
        raise DomainError("agency_inactive", f"{agency.name}已停用，不能新增用户", field="agency_id")
    role = _role(data.role)
    await _check_admin_agency(session, role, agency.id)
    await _username_free(session, username)
    user = User(
        username=username,
        display_name=display_name,
        title=title,
        agency_id=agency.id,
        role=role.value,
        password_hash=_password(data.password, username),
        is_active=True,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        # Another admin created the same name in the meantime: the unique index decides.
        await session.rollback()
        raise DomainError("username_taken", f"用户名“{username}”已被使用", field="username") from None
    audit(session, principal, "user_create", detail=f"user={user.id} {username} @{agency.code} {role.value}")
    await session.commit()
    await session.refresh(user, ["agency"])
    return user


async def _other_active_admins(session: AsyncSession, user: User) -> int:
    """Active administrators besides `user`, their rows locked: two admins switching each other off at once
    wait for one another instead of both succeeding and leaving none."""
    ids = (
        await session.execute(
            select(User.id).where(User.role == Role.admin.value, User.is_active.is_(True)).with_for_update()
        )
    ).scalars()
    return len([i for i in ids if i != user.id])


async def update_user(*, session: AsyncSession, principal: Principal, user_id: int, data: UserUpdateIn) -> User:
    """Applies the fields sent (see UserUpdateIn), all checked before any is changed; one audit entry per
    kind of change."""
    user = await get_user(session=session, principal=principal, user_id=user_id)
    sent = data.model_fields_set
    role = _role(data.role) if "role" in sent and data.role is not None else Role(user.role)
    active = data.is_active if "is_active" in sent and data.is_active is not None else user.is_active
    name = _text(data.display_name, "display_name", "姓名", required=True) if "display_name" in sent else None
    title = _text(data.title, "title", "职务", required=False) if "title" in sent else user.title
    if user.id == principal.user_id and not active:
        raise DomainError("own_account", "不能停用自己的账号", field="is_active")
    if user.id == principal.user_id and role != Role.admin:
        raise DomainError("own_account", "不能取消自己的管理员角色", field="role")
    if role.value != user.role:
        await _check_admin_agency(session, role, user.agency_id)
    if user.role == Role.admin.value and user.is_active and (role != Role.admin or not active):
        if await _other_active_admins(session, user) == 0:
            raise DomainError(
                "last_admin",
                "这是唯一启用的管理员账号，不能停用或改为其他角色",
                field="role" if active else "is_active",
            )
    who = f"user={user.id} {user.username}"
    if role.value != user.role:
        audit(session, principal, "user_role", detail=f"{who} {user.role}->{role.value}")
        user.role = role.value
    if name is not None and name != user.display_name:
        audit(session, principal, "user_rename", detail=who)
        user.display_name = name
    if title != user.title:
        audit(session, principal, "user_title", detail=who)
        user.title = title
    if active != user.is_active:
        # Their page logins are revoked (and api/deps.py checks is_active); their personal
        # tokens are revoked for good, so that switching the account on again does not revive them.
        audit(session, principal, "user_reactivate" if active else "user_deactivate", detail=who)
        user.is_active = active
        if not active:
            await _revoke_tokens(session, user)
            await login_sessions.end_all(session, user.id)
    await session.commit()
    return user


async def _revoke_tokens(session: AsyncSession, user: User) -> int:
    """Revokes the user's personal API tokens; how many were live."""
    result = await session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=func.now())
    )
    return result.rowcount or 0


async def reset_password(*, session: AsyncSession, principal: Principal, user_id: int, password: str) -> User:
    """A new password chosen by the admin (the user forgot theirs, or the account may be in other hands). A
    new password ends the user's page logins (api/login_sessions.py), and their personal API tokens are
    revoked: whoever had the account has nothing left of it."""
    user = await get_user(session=session, principal=principal, user_id=user_id)
    user.password_hash = _password(password, user.username)
    # Someone who forgot their password has often locked the account with wrong guesses: the reset lifts it.
    user.failed_logins = 0
    user.locked_until = None
    revoked = await _revoke_tokens(session, user)
    await login_sessions.end_all(session, user.id)
    audit(session, principal, "user_password_reset", detail=f"user={user.id} {user.username}; {revoked} tokens revoked")
    await session.commit()
    return user


def agency_json(a: Agency) -> dict[str, object]:
    return {"id": a.id, "code": a.code, "name": a.name, "agency_type": a.agency_type, "region_code": a.region_code}


def user_json(u: User) -> dict[str, object]:
    """A user for the API: never the password hash."""
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "title": u.title,
        "role": u.role,
        "role_label": ROLE_LABELS[Role(u.role)],
        "is_active": u.is_active,
        "agency": agency_json(u.agency),
    }
