from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.adapters.config_file import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]

MINIMAL = {
    "campaign": {
        "name": "测试活动",
        "slug": "t-1",
        "opens": datetime(2020, 12, 3, tzinfo=ZoneInfo("Asia/Shanghai")),
        "deadline": datetime(2020, 12, 31, 18, tzinfo=ZoneInfo("Asia/Shanghai")),
    }
}


def config_with(section: str, **values: object) -> dict:
    raw = {k: dict(v) for k, v in MINIMAL.items()}
    raw.setdefault(section, {}).update(values)
    return raw


def test_the_example_config_loads_with_the_documented_values() -> None:
    config = load_config(REPO / "config.example.toml", environ={"INTAKE_IMAP_PASSWORD": "code-1"})
    assert config.imap is not None and config.imap.password == "code-1"
    assert config.imap.host == "imap.163.com" and config.imap.security == "ssl"
    assert config.smtp is not None and config.smtp.from_name == "市文明办材料收集"
    assert config.campaigns[0].deadline == datetime(2020, 12, 31, 18, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert config.campaigns[0].required == ("brief", "photo")
    assert config.campaigns[0].min_photo_bytes == 1048576
    assert config.storage.data_dir == REPO / "data"
    assert config.storage.database_url == f"sqlite:///{REPO / 'data' / 'intake.db'}"
    assert config.units_file == REPO / "units.csv"


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("imap", {"host": "h", "security": "tls"}, "imap.security must be one of ssl, starttls, none"),
        ("imap", {"host": "h", "port": 70000}, "imap.port must be between 1 and 65535"),
        ("imap", {"port": 993}, "imap.host is required"),
        ("smtp", {"host": "h", "from_address": "nobody"}, "smtp.from_address must be a mail address"),
        ("campaign", {"required": ["brief", "video"]}, "campaign.required: unknown category 'video'"),
        ("campaign", {"late_policy": "maybe"}, "campaign.late_policy must be accept or reject"),
        ("campaign", {"min_photo_bytes": "1MB"}, "campaign.min_photo_bytes must be int"),
        ("campaign", {"timezone": "Mars/Base"}, "campaign.timezone: unknown time zone"),
        ("campaign", {"slug": "活动"}, "campaign.slug must be ASCII"),
        ("schedule", {"poll_interval_seconds": -5}, "schedule.poll_interval_seconds must not be negative"),
    ],
)
def test_a_wrong_value_is_reported_with_its_key(section: str, values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config_with(section, **values), Path("/cfg"), {})
    assert message in str(err.value)


def test_deadline_before_opening_is_refused() -> None:
    raw = config_with("campaign", deadline=datetime(2020, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai")))
    with pytest.raises(ConfigError, match="campaign.deadline must be after campaign.opens"):
        parse_config(raw, Path("/cfg"), {})


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_password_comes_from_the_named_environment_variable() -> None:
    raw = config_with("imap", host="h", password_env="MY_SECRET")
    config = parse_config(raw, Path("/cfg"), {"MY_SECRET": "s3"})
    assert config.imap is not None and config.imap.password == "s3"
    assert "s3" not in repr(config.imap)


def test_the_consoles_section() -> None:
    plain = parse_config(config_with("units"), Path("/srv"), {})
    assert (plain.web.base_url, plain.web.session_hours, plain.web.host, plain.web.port) == (None, 12, "127.0.0.1",
                                                                                             8080)
    web = parse_config(config_with("web", base_url="https://intake.example.org/", session_hours=8, port=9000),
                       Path("/srv"), {}).web
    assert (web.base_url, web.session_hours, web.port, web.secure_cookies) == ("https://intake.example.org", 8, 9000,
                                                                               True)
    with pytest.raises(ConfigError, match="web.base_url must start with http"):
        parse_config(config_with("web", base_url="intake.example.org"), Path("/srv"), {})


@pytest.mark.parametrize("slug", ["raw", "digests", "web", "Outbox"])
def test_a_campaign_slug_may_not_name_a_folder_of_the_data_folder(slug: str) -> None:
    with pytest.raises(ConfigError, match="a folder the data folder keeps for itself"):
        parse_config(config_with("campaign", slug=slug), Path("/srv"), {})


def test_a_database_servers_password_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    url = "postgresql+psycopg://intake@db.example:5432/intake"
    plain = parse_config(config_with("storage", database_url=url), tmp_path, {})
    assert plain.storage.database_url == url
    from_env = parse_config(config_with("storage", database_url=url), tmp_path,
                            {"INTAKE_DATABASE_PASSWORD": "p@ss:word/1"})
    assert from_env.storage.database_url == "postgresql+psycopg://intake:p%40ss%3Aword%2F1@db.example:5432/intake"
    (tmp_path / "db-password").write_text("from-file\n", encoding="utf-8")
    from_file = parse_config(config_with("storage", database_url=url, password_file="db-password"), tmp_path, {})
    assert from_file.storage.database_url == "postgresql+psycopg://intake:from-file@db.example:5432/intake"
    given = parse_config(config_with("storage", database_url="postgresql+psycopg://a:b@h/d"), tmp_path,
                         {"INTAKE_DATABASE_PASSWORD": "other"})
    assert given.storage.database_url == "postgresql+psycopg://a:b@h/d"
    with pytest.raises(ConfigError, match="not a database URL"):
        parse_config(config_with("storage", database_url="not a url"), tmp_path, {})
