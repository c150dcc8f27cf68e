"""Settings from the environment (the CLI's tests are in tests/unit/cli)."""

from __future__ import annotations

import pytest

from image_pipeline.settings import PROJECT_ROOT, Settings, SettingsError, variables


def test_defaults_are_the_embedded_default():
    cfg = Settings.from_env()
    assert cfg.store.store_url == (PROJECT_ROOT / "data").as_uri()
    assert (cfg.catalog.backend, cfg.email.channel, cfg.store.aws_conn_id, cfg.catalog.mongo_conn_id,
            cfg.email.smtp_conn_id) == ("sqlite", "auto", "aws_default", "mongo_default", "smtp_default")
    assert cfg.processing.process_slots == 4  # the gallery_processing pool's documented default


def test_environment_selects_backends(monkeypatch):
    monkeypatch.setenv("GALLERY_STORE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("GALLERY_CATALOG", "mongo")
    monkeypatch.setenv("GALLERY_ATTACH_MAX_BYTES", "42")
    cfg = Settings.from_env()
    assert cfg.store.is_s3 and cfg.catalog.backend == "mongo" and cfg.email.attach_max_bytes == 42


# One variable of each group, a value other than its default, and where it lands.
EACH_GROUP = [
    ("GALLERY_S3_RETRY_MODE", "adaptive", ("store", "s3_retry_mode"), "adaptive"),
    ("GALLERY_SQLITE_TIMEOUT", "5", ("catalog", "sqlite_timeout"), 5),
    ("GALLERY_DOWNLOADS_PER_HOST", "2", ("downloads", "downloads_per_host"), 2),
    ("GALLERY_RECIPES", " web , thumb ", ("processing", "recipes"), "web , thumb"),
    ("GALLERY_PROCESS_SLOTS", "6", ("processing", "process_slots"), 6),
    ("GALLERY_MODEL_THREADS", "3", ("models", "model_threads"), 3),
    ("GALLERY_STYLE_TRANSFER", "off", ("models", "style_transfer"), False),
    ("GALLERY_EMAIL", "outbox", ("email", "channel"), "outbox"),
    ("GALLERY_REQUEST_RATE_LIMIT", "7", ("gallery", "request_rate_limit"), 7),
    ("GALLERY_ANALYTICS_CATCHUP", "true", ("analytics", "analytics_catchup"), True),
    ("GALLERY_TRASH_RETENTION_DAYS", "0", ("maintenance", "trash_retention_days"), 0),
]


@pytest.mark.parametrize("variable, raw, where, value", EACH_GROUP, ids=[row[0] for row in EACH_GROUP])
def test_each_group_reads_its_variables(monkeypatch, variable, raw, where, value):
    group, field = where
    assert variables()[where] == variable
    default = getattr(getattr(Settings.from_env(), group), field)
    monkeypatch.setenv(variable, raw)
    assert getattr(getattr(Settings.from_env(), group), field) == value != default
    monkeypatch.setenv(variable, "  ")  # empty: the default
    assert getattr(getattr(Settings.from_env(), group), field) == default


def test_every_group_has_a_variable_in_the_table_above():
    assert {group for group, _ in variables()} == {where[0] for _, _, where, _ in EACH_GROUP}


def test_variables_keep_their_names():
    """Every variable a deployment may have set is still read under the same name (60 before the model,
    GALLERY_MONGO_URI the command-line tools read on their own)."""
    names = set(variables().values())
    assert len(names) == len(variables()) == 61
    assert {"GALLERY_STORE_URL", "GALLERY_CATALOG", "GALLERY_EMAIL", "GALLERY_GALLERY_THUMB", "GALLERY_MONGO_URI",
            "GALLERY_PROCESS_SLOTS", "GALLERY_SIMILAR_CACHE_DIR", "GALLERY_MAINTENANCE_SCHEDULE"} <= names


@pytest.mark.parametrize("value, catchup", [("true", True), ("False", False), ("1", True), ("no", False)])
def test_analytics_catchup_is_a_boolean_setting(monkeypatch, value, catchup):
    assert Settings.from_env().analytics.analytics_catchup is False
    monkeypatch.setenv("GALLERY_ANALYTICS_CATCHUP", value)
    assert Settings.from_env().analytics.analytics_catchup is catchup


@pytest.mark.parametrize("name, value, message", [
    ("STORE_URL", "ftp://x", "GALLERY_STORE_URL must start with file:// or s3://, got 'ftp://x'"),
    ("CATALOG", "postgres", "GALLERY_CATALOG must be 'sqlite' or 'mongo', got 'postgres'"),
    ("EMAIL", "pigeon", "GALLERY_EMAIL must be 'auto', 'smtp', 'api' or 'outbox', got 'pigeon'"),
    ("BATCH_SIZE", "0", "GALLERY_BATCH_SIZE must be a positive number of images, got '0'"),
    ("ATTACH_MAX_BYTES", "lots", "GALLERY_ATTACH_MAX_BYTES must be a whole number, got 'lots'"),
    ("ANALYTICS_CATCHUP", "maybe", "GALLERY_ANALYTICS_CATCHUP must be true or false, got 'maybe'"),
    ("ANALYTICS_MAX_ACTIVE_RUNS", "17", "GALLERY_ANALYTICS_MAX_ACTIVE_RUNS must be between 1 and 16, got '17'"),
    ("PROCESS_SLOTS", "0", "GALLERY_PROCESS_SLOTS must be a positive number of slots, got '0'"),
    ("TRASH_RETENTION_DAYS", "-1", "GALLERY_TRASH_RETENTION_DAYS must be 0 or more days, got '-1'"),
    ("LABELS", "clip", "GALLERY_LABELS must be 'local', 'rekognition' or 'none', got 'clip'"),
])
def test_a_bad_value_names_its_variable_and_the_rule(monkeypatch, name, value, message):
    monkeypatch.setenv(f"GALLERY_{name}", value)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value) == message


# The three settings the old "download limits must be positive" message stood for, each in its own words.
@pytest.mark.parametrize("variable, message", [
    ("GALLERY_SQLITE_TIMEOUT", "GALLERY_SQLITE_TIMEOUT must be a positive number of seconds, got '-1'"),
    ("GALLERY_MODEL_THREADS", "GALLERY_MODEL_THREADS must be a positive number of threads, got '-1'"),
    ("GALLERY_REQUEST_RATE_LIMIT", "GALLERY_REQUEST_RATE_LIMIT must be a positive number of runs, got '-1'"),
])
def test_once_confused_settings_each_say_what_they_are(monkeypatch, variable, message):
    monkeypatch.setenv(variable, "-1")
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value) == message
    assert "download" not in str(refused.value)


def test_every_bad_value_is_named_at_once(monkeypatch):
    monkeypatch.setenv("GALLERY_SQLITE_TIMEOUT", "0")
    monkeypatch.setenv("GALLERY_MODEL_THREADS", "x")
    with pytest.raises(SettingsError, match=r"^GALLERY_SQLITE_TIMEOUT .*; GALLERY_MODEL_THREADS must be a whole number"):
        Settings.from_env()


def test_a_bad_setting_is_no_value_error(monkeypatch):
    """A bad setting is the deployment's to fix: not a ValueError a handler of bad input would take."""
    monkeypatch.setenv("GALLERY_SQLITE_TIMEOUT", "0")
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert not isinstance(refused.value, ValueError)


def test_keyword_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("GALLERY_LABELS", "rekognition")
    monkeypatch.setenv("GALLERY_EMBEDDINGS", "false")
    cfg = Settings(models={"labels": "none"})
    assert (cfg.models.labels, cfg.models.embeddings) == ("none", False)


def test_search_endpoints_are_the_other_url_variables(monkeypatch):
    monkeypatch.setenv("GALLERY_BING_URL", " http://127.0.0.1:9/bing ")
    monkeypatch.setenv("GALLERY_STORE_URL", "s3://bucket")  # a setting of its own, no endpoint
    assert Settings.from_env().downloads.endpoints() == {"bing": "http://127.0.0.1:9/bing"}


def test_required_connections_follow_the_chosen_backends():
    assert Settings().required_connections() == {}  # the embedded default needs none; SMTP is optional on auto
    cfg = Settings(store={"store_url": "s3://b/p"}, catalog={"backend": "mongo", "mongo_conn_id": "catalog_db"},
                   email={"channel": "smtp"})
    assert cfg.required_connections() == {"aws_default": "aws", "catalog_db": "mongo", "smtp_default": "smtp"}


def test_settings_are_read_from_the_environment_in_settings_and_wiring_only():
    """The composition root reads the settings once and passes values down: no other module of the
    library builds them from the environment or reads a GALLERY_* variable itself."""
    import re

    root = PROJECT_ROOT / "include" / "image_pipeline"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path in (root / "settings.py", root / "wiring.py"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if (re.search(r"Settings\.from_env|Settings\(\)", line)
                    or (re.search(r"os\.environ|getenv", line) and "GALLERY_" in line)):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []
