"""Config names environment variables for secrets and URLs (``secret_env``, ``url_env``, ``allowed_org_ids_env``):
only leadrelay's own (``LEADRELAY_...``), so a config an admin publishes cannot point a signing key or a webhook URL
at another secret of the process (issue 17). Anything else is refused at validation, naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import config_from_texts, read_files
from connector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FILES = read_files(ROOT)


@pytest.mark.parametrize(("file", "old", "new", "field"), [
    ("mappings/sources/website.yaml", "secret_env: LEADRELAY_FORM_SECRET_WEBSITE", "secret_env: AWS_SECRET_ACCESS_KEY",
     "inbound.secret_env"),
    ("mappings/sources/website.yaml", "secret_env: LEADRELAY_FORM_SECRET_WEBSITE", "secret_env: leadrelay_lower",
     "inbound.secret_env"),
    ("mappings/sources/salesforce_lead.yaml", "allowed_org_ids_env: LEADRELAY_SALESFORCE_ORG_IDS",
     "allowed_org_ids_env: HOME", "inbound.allowed_org_ids_env"),
    ("rules/notify.yaml", "url_env: LEADRELAY_SLACK_WEBHOOK_URL", "url_env: DATABASE_URL", "channels[0].url_env"),
    ("rules/notify.yaml", "url_env: LEADRELAY_SLACK_WEBHOOK_URL", "url_env: LEADRELAY_", "channels[0].url_env"),
])
def test_a_variable_outside_leadrelay_s_own_is_refused_naming_file_line_and_field(file: str, old: str, new: str,
                                                                                  field: str) -> None:
    assert old in FILES[file]
    line = FILES[file].split(old)[0].count("\n") + 1
    with pytest.raises(ConfigError) as refused:
        config_from_texts({**FILES, file: FILES[file].replace(old, new)})
    err = refused.value
    assert (err.file, err.line, err.field) == (file, line, field), str(err)
    assert "LEADRELAY_" in str(err)


def test_the_shipped_files_name_only_leadrelay_variables() -> None:
    config = config_from_texts(FILES)
    names = {s.inbound.secret_env for s in config.sources.values()} | {
        s.inbound.allowed_org_ids_env for s in config.sources.values()}
    assert {n for n in names if n} == {"LEADRELAY_FORM_SECRET_WEBSITE", "LEADRELAY_TYPEFORM_SECRET",
                                       "LEADRELAY_HUBSPOT_WEBHOOK_SECRET", "LEADRELAY_SALESFORCE_ORG_IDS"}


def test_a_version_published_with_the_names_the_mappings_shipped_with_before_still_builds() -> None:
    """Installations upgraded from before issue 17 have HUBSPOT_CLIENT_SECRET and SALESFORCE_ALLOWED_ORG_IDS in their
    published version (Redis): those two names stay accepted, so serve and worker still start on it."""
    old = {**FILES,
           "mappings/sources/hubspot_contact.yaml": FILES["mappings/sources/hubspot_contact.yaml"].replace(
               "secret_env: LEADRELAY_HUBSPOT_WEBHOOK_SECRET", "secret_env: HUBSPOT_CLIENT_SECRET"),
           "mappings/sources/salesforce_lead.yaml": FILES["mappings/sources/salesforce_lead.yaml"].replace(
               "allowed_org_ids_env: LEADRELAY_SALESFORCE_ORG_IDS", "allowed_org_ids_env: SALESFORCE_ALLOWED_ORG_IDS")}
    assert old != FILES
    config = config_from_texts(old)
    assert config.sources["hubspot_contact"].inbound.secret_env == "HUBSPOT_CLIENT_SECRET"
    assert config.sources["salesforce_lead"].inbound.allowed_org_ids_env == "SALESFORCE_ALLOWED_ORG_IDS"
