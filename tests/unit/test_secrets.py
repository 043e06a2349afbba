"""Masking secrets in text and parsed configs."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenix_harness.core.secrets import MASK, mask, mask_config

SECRET = "s3cr3t-V4lue.xyz"


@pytest.mark.parametrize("template", [
    "Authorization: Bearer {s}",
    "authorization=Bearer {s}",
    "Authorization: Basic {s}",
    '{{"Authorization": "Bearer {s}"}}',
    "headers: {{authorization: Bearer {s}, x: 1}}",
    "curl -H 'Authorization: Bearer {s}' http://127.0.0.1:9090",
    "api_key={s}",
    "api-key: {s}",
    "apikey: '{s}'",
    "X-API-Key: {s}",
    "x-honeycomb-key={s}",
    "password: {s}",
    "PASSWORD='{s}'",
    "passwd={s}",
    "secret: {s}",
    "client_secret: {s}",
    "token={s}",
    "access_token: {s}",
    '"refresh_token": "{s}"',
    "https://user:{s}@example.com/api",
    "postgres://admin:{s}@127.0.0.1:5432/db",
])
def test_mask_hides_secrets(template: str) -> None:
    text = template.format(s=SECRET)
    masked = mask(text)
    assert SECRET not in masked
    assert MASK in masked


def test_mask_keeps_the_key_and_the_rest() -> None:
    assert mask("Authorization: Bearer abc123") == "Authorization: ***"
    assert mask("api_key=abc other=1") == "api_key=*** other=1"
    assert mask("https://user:pw@example.com/x?y=1") == "https://user:***@example.com/x?y=1"
    assert mask('{"password": "pw", "port": 8080}') == '{"password": "***", "port": 8080}'


@pytest.mark.parametrize("text", [
    "endpoint: http://127.0.0.1:9090/api/v1/write",
    "https://example.com:4318/v1/metrics",
    "tokenizer: fast",
    "max_tokens: 100",
    "the password field is required",
    "process.executable.name matches ^(postgres|nginx)$",
    'not IsMatch(resource.attributes["process.executable.name"], "^api$")',
    "cost_reduction >= 40% (95% CI 0.41 .. 0.62)",
    "user@example.com wrote: hello",
    "",
])
def test_mask_keeps_non_secret_text(text: str) -> None:
    assert mask(text) == text


@given(st.text(alphabet=st.characters(blacklist_characters=":=@"), max_size=60))
@settings(max_examples=100, deadline=None)
def test_mask_leaves_text_without_separators_alone(text: str) -> None:
    assert mask(text) == text


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", min_size=1, max_size=30))
@settings(max_examples=100, deadline=None)
def test_mask_hides_any_bearer_token(token: str) -> None:
    masked = mask(f"Authorization: Bearer {token}")
    assert masked == "Authorization: ***"


def test_mask_is_idempotent() -> None:
    text = "password=pw Authorization: Bearer t https://u:p@h/x"
    assert mask(mask(text)) == mask(text)


def test_mask_config_masks_secret_keys() -> None:
    config = {
        "exporters": {
            "otlphttp": {
                "endpoint": f"https://user:{SECRET}@collector.example.com:4318",
                "headers": {"Authorization": f"Bearer {SECRET}", "X-Scope-OrgID": "tenant-1"},
            },
            "datadog": {"api": {"key": "k", "api_key": SECRET, "site": "datadoghq.eu"}},
        },
        "extensions": {
            "bearertokenauth/out": {"token": SECRET},
            "basicauth/client": {"client_auth": {"username": "me", "password": SECRET}},
        },
        "receivers": {"host_metrics": {"collection_interval": "2s"}},
        "service": {"pipelines": {"metrics": {"receivers": ["host_metrics"], "exporters": ["otlphttp"]}}},
        "note": f"password={SECRET}",
        "port": 8080,
        "enabled": True,
    }
    masked = mask_config(config)
    assert SECRET not in json.dumps(masked)
    exp = masked["exporters"]
    assert exp["otlphttp"]["headers"] == {"Authorization": MASK, "X-Scope-OrgID": "tenant-1"}
    assert exp["otlphttp"]["endpoint"] == f"https://user:{MASK}@collector.example.com:4318"
    assert exp["datadog"]["api"] == {"key": "k", "api_key": MASK, "site": "datadoghq.eu"}
    assert masked["extensions"]["bearertokenauth/out"] == {"token": MASK}  # dict under a secret-ish key: recursed
    assert masked["extensions"]["basicauth/client"]["client_auth"] == {"username": "me", "password": MASK}
    assert masked["receivers"] == config["receivers"]
    assert masked["service"] == config["service"]
    assert masked["note"] == f"password={MASK}"
    assert masked["port"] == 8080 and masked["enabled"] is True


def test_mask_config_returns_a_copy() -> None:
    config = {"headers": {"authorization": "Bearer t"}, "list": [{"password": "p"}]}
    masked = mask_config(config)
    assert config == {"headers": {"authorization": "Bearer t"}, "list": [{"password": "p"}]}
    assert masked == {"headers": {"authorization": MASK}, "list": [{"password": MASK}]}


def test_mask_config_masks_non_string_secrets() -> None:
    assert mask_config({"password": 12345, "token": None}) == {"password": MASK, "token": MASK}


def test_mask_config_masks_lists_of_secrets() -> None:
    masked = mask_config({"api_keys": [SECRET, "second-key"], "tokens": [SECRET]})
    assert SECRET not in json.dumps(masked)
    assert "second-key" not in json.dumps(masked)


secret_free_values = st.recursive(
    st.one_of(st.integers(), st.booleans(), st.none(),
              st.text(alphabet=st.characters(blacklist_characters=":=@"), max_size=15)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["endpoint", "port", "name", "level", "pipelines"]),
                                            inner, max_size=3)),
    max_leaves=10,
)


@given(secret_free_values)
@settings(max_examples=100, deadline=None)
def test_mask_config_keeps_non_secret_configs(value: object) -> None:
    assert mask_config(value) == value


def test_masked_text_has_no_partial_tokens() -> None:
    masked = mask("Authorization: Bearer aaa.bbb.ccc, next")
    assert re.search(r"aaa|bbb|ccc", masked) is None
    assert masked.endswith(", next")
