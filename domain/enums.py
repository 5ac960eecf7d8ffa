"""Enumerations shared by every layer; values are the glossary's code names."""

from __future__ import annotations

from enum import StrEnum


class AgencyType(StrEnum):
    civil_affairs = "civil_affairs"
    township = "township"
    village_committee = "village_committee"
    police = "police"
    procuratorate = "procuratorate"
    court = "court"
    education_bureau = "education_bureau"
    school = "school"
    health_commission = "health_commission"
    hospital = "hospital"
    counselling_center = "counselling_center"
    womens_federation = "womens_federation"
    youth_league = "youth_league"
    disabled_persons_federation = "disabled_persons_federation"
    medical_insurance = "medical_insurance"
    political_legal_committee = "political_legal_committee"
    social_work_org = "social_work_org"


AGENCY_TYPE_LABELS: dict[AgencyType, str] = {
    AgencyType.civil_affairs: "民政局",
    AgencyType.township: "乡镇人民政府/街道办事处",
    AgencyType.village_committee: "村（居）民委员会",
    AgencyType.police: "公安机关",
    AgencyType.procuratorate: "人民检察院",
    AgencyType.court: "人民法院",
    AgencyType.education_bureau: "教育局",
    AgencyType.school: "学校/幼儿园",
    AgencyType.health_commission: "卫生健康委",
    AgencyType.hospital: "医疗卫生机构",
    AgencyType.counselling_center: "心理辅导中心",
    AgencyType.womens_federation: "妇联",
    AgencyType.youth_league: "团委",
    AgencyType.disabled_persons_federation: "残联",
    AgencyType.medical_insurance: "医保局",
    AgencyType.political_legal_committee: "政法委",
    AgencyType.social_work_org: "社会工作服务机构",
}


class Role(StrEnum):
    operator = "operator"
    supervisor = "supervisor"
    admin = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.operator: "经办人",
    Role.supervisor: "督导",
    Role.admin: "管理员",
}


class Sex(StrEnum):
    male = "male"
    female = "female"


SEX_LABELS: dict[Sex, str] = {Sex.male: "男", Sex.female: "女"}
