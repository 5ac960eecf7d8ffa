"""The README's demo logins are the seed's: the table between its markers is what db/demo_logins.py makes
from db/seed.py today (run `python -m db.demo_logins` and paste it when the seed changes)."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from db.demo_logins import BEGIN, END, county_logins, markdown
from db.seed import demo_agencies, demo_users
from domain.regions import CHANGZHI_COUNTIES, CITY_CODE

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_the_seeds_demo_logins() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == markdown()


def test_every_demo_login_is_in_the_table_or_follows_its_county_prefix() -> None:
    shown = {x.username for x in county_logins("140403")} | {x.username for x in county_logins(CITY_CODE)}
    names = [u for u, *_ in demo_users(demo_agencies())]
    # every county has the sample county's accounts, under its own prefix
    per_county = {u.removeprefix("luzhou-") for u in shown if u.startswith("luzhou-")}
    assert len(names) == len(shown) + (len(CHANGZHI_COUNTIES) - 1) * len(per_county)
    assert "admin" in shown and "luzhou-vc1-director" in shown and "city-police-sup" in shown


def test_the_readme_documents_the_port_settings() -> None:
    """Every port or listening address of the one Settings class, by its environment variable."""
    text = README.read_text(encoding="utf-8")
    listening = [f for f in Settings.model_fields if f.endswith(("port", "host"))]
    assert "port" in listening and "temporal_ui_port" in listening
    for field in listening:
        assert f"`REFERRALS_{field.upper()}`" in text, field
