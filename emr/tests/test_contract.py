"""The contract validator against the exported JSON Schemas (no Spark)."""

import json

import pytest
import raw_fixtures as rf

from lake.contract import ContractValidator, UnsupportedSchema


def test_valid_events_of_every_topic_pass(validator):
    assert validator.violation("crypto.bars", json.dumps(rf.bar("BTC/USD", "2026-11-30T10:00:00Z"))) is None
    assert validator.violation("crypto.trades", json.dumps(rf.trade("202611301000-0001", "2026-11-30T10:00:07Z"))) is None
    assert validator.violation("crypto.assets", json.dumps(rf.asset("BTC", "2026-11-30", "2026-11-30T00:00:10Z"))) is None


@pytest.mark.parametrize(
    ("topic", "value", "reason", "fragment"),
    [
        ("crypto.bars", "{not json", "malformed_json", "not JSON"),
        ("crypto.bars", None, "null_value", "null"),
        ("crypto.nope", "{}", "unknown_topic", "crypto.nope"),
        # a JSON number where the contract wants a decimal string
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "open": 100.5}), "schema_violation", "$.open: expected string"),
        # zero is not a positive decimal (the negative lookahead of the pattern)
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "low": "0.000"}), "schema_violation", "$.low: does not match"),
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:30Z")}), "schema_violation", "$.start: does not match"),
        ("crypto.trades", json.dumps({**rf.trade("202611301000-0001", "2026-11-30T10:00:07Z"), "extra": 1}), "schema_violation", "unexpected property 'extra'"),
        ("crypto.trades", json.dumps({k: v for k, v in rf.trade("202611301000-0001", "2026-11-30T10:00:07Z").items() if k != "side"}), "schema_violation", "missing required property 'side'"),
        ("crypto.trades", json.dumps({**rf.trade("202611301000-0001", "2026-11-30T10:00:07Z"), "document_id": "52998224725\n"}), "schema_violation", "$.document_id"),
        ("crypto.assets", json.dumps({**rf.asset("BTC", "2026-11-30", "2026-11-30T00:00:10Z"), "icon_size": 0}), "schema_violation", "$.icon_size: not greater than 0"),
        # bar contract v2: every bar carries its revision, a positive integer (epoch ms)
        ("crypto.bars", json.dumps({k: v for k, v in rf.bar("BTC/USD", "2026-11-30T10:00:00Z").items() if k != "revision"}), "schema_violation", "missing required property 'revision'"),
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "revision": "1796040005000"}), "schema_violation", "$.revision: expected integer"),
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "revision": 1796040005000.5}), "schema_violation", "$.revision: expected integer"),
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "revision": 0}), "schema_violation", "$.revision: not greater than 0"),
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "schema_version": 3}), "schema_violation", "$.schema_version: must be 2"),
        # a v1 bar is the v2 bar without revision: one carrying a revision is neither
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "schema_version": 1}), "schema_violation", "unexpected property 'revision'"),
        # the zod refinement JSON Schema cannot carry: event_id derives from the key fields
        ("crypto.bars", json.dumps({**rf.bar("BTC/USD", "2026-11-30T10:00:00Z"), "event_id": "alpaca:ETH/USD:2026-11-30T10:00:00Z"}), "schema_violation", "alpaca:{symbol}:{start}"),
    ],
)
def test_violations_name_their_reason(validator, topic, value, reason, fragment):
    found = validator.violation(topic, value)
    assert found is not None
    assert found.reason == reason
    assert fragment in found.detail


def test_a_bar_of_contract_v1_landed_before_revisions_stays_valid(validator):
    v1 = {k: v for k, v in rf.bar("BTC/USD", "2026-11-30T10:00:00Z").items() if k != "revision"}
    v1["schema_version"] = 1
    assert validator.violation("crypto.bars", json.dumps(v1)) is None
    found = validator.violation("crypto.bars", json.dumps({**v1, "close": 1}))
    assert found is not None and "$.close: expected string" in found.detail


def test_a_schema_with_an_unknown_keyword_is_refused(validator):
    schema = {**validator.schemas["crypto.bars"], "oneOf": []}
    with pytest.raises(UnsupportedSchema, match="oneOf"):
        ContractValidator({"crypto.bars": schema})
