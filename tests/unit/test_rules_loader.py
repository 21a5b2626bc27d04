"""Unit tests for workers.classification.rules: the YAML schema, loading, merging, errors.

Every test writes its own rule files to tmp_path; the built-in rules are not used.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config.errors import ConfigError
from workers.classification.rules import DEFAULT_CONFIDENCE, DEFAULT_PRIORITY, load_rule_file, load_rules
from workers.classification.taxonomy import BUILTIN_CATEGORIES, Category


@pytest.fixture
def write(tmp_path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def rule(rule_id: str, *, category: str = "network", priority: int | None = None, message: str = "x",
         extra: str = "") -> str:
    """One YAML rule entry (a list item under `rules:`)."""
    lines = [f"  - id: {rule_id}", f"    when: {{message: {message!r}}}", f"    category: {category}"]
    if priority is not None:
        lines.append(f"    priority: {priority}")
    if extra:
        lines.append(f"    {extra}")
    return "\n".join(lines) + "\n"


def rules_file(*entries: str) -> str:
    return "version: 1\nrules:\n" + "".join(entries)


def ids(rule_set) -> list[str]:
    return [r.spec.id for r in rule_set.rules]


def load_error(*paths: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_rules(list(paths))
    return str(info.value)


# --------------------------------------------------------------------------- schema and defaults


def test_rule_defaults(write):
    [loaded] = load_rules([write("a.yaml", rules_file(rule("only")))]).rules
    spec = loaded.spec
    assert (spec.priority, spec.confidence, spec.enabled) == (DEFAULT_PRIORITY, DEFAULT_CONFIDENCE, True)
    assert spec.severity is None and spec.retryable is None
    assert spec.when.layer == "any"
    assert (loaded.origin.name, loaded.entry, loaded.file_rank) == ("a.yaml", 1, 0)


@pytest.mark.parametrize("text", ["", "# just a comment\n", "version: 1\n", "rules: []\n"])
def test_empty_files_load(write, text):
    rule_set = load_rules([write("a.yaml", text)])
    assert rule_set.rules == []
    assert rule_set.categories == BUILTIN_CATEGORIES


def test_no_files(write):
    assert load_rules([]).rules == []


def test_scalars_become_lists(write):
    path = write("a.yaml", """\
        rules:
          - id: r
            when: {type: "*Error", http_status: 503, errno: ECONNREFUSED, code: "08*", service: api}
            category: network
        """)
    when = load_rules([path]).rules[0].spec.when
    assert (when.type, when.http_status, when.errno, when.code, when.service) == (
        ["*Error"], [503], ["ECONNREFUSED"], ["08*"], ["api"])


# --------------------------------------------------------------------------- merge order


def test_priority_orders_rules(write):
    path = write("a.yaml", rules_file(rule("low", priority=10), rule("high", priority=900), rule("mid")))
    assert ids(load_rules([path])) == ["high", "mid", "low"]


def test_file_order_within_a_file_at_equal_priority(write):
    path = write("a.yaml", rules_file(rule("c"), rule("a"), rule("b")))
    assert ids(load_rules([path])) == ["c", "a", "b"]


def test_later_file_first_at_equal_priority(write):
    first = write("10-first.yaml", rules_file(rule("f1"), rule("f2")))
    second = write("20-second.yaml", rules_file(rule("s1"), rule("s2")))
    assert ids(load_rules([first, second])) == ["s1", "s2", "f1", "f2"]
    # the order given, not the file names, decides
    assert ids(load_rules([second, first])) == ["f1", "f2", "s1", "s2"]


def test_priority_beats_file_order(write):
    first = write("a.yaml", rules_file(rule("early-but-high", priority=60)))
    second = write("b.yaml", rules_file(rule("late-but-low", priority=40), rule("late-default")))
    assert ids(load_rules([first, second])) == ["early-but-high", "late-default", "late-but-low"]


def test_later_definition_with_same_id_replaces_earlier(write):
    first = write("a.yaml", rules_file(rule("shared", category="network", message="old"), rule("other")))
    second = write("b.yaml", rules_file(rule("shared", category="auth", message="new")))
    rule_set = load_rules([first, second])
    assert ids(rule_set) == ["shared", "other"]  # once only, ranked with its new file
    shared = rule_set.rules[0]
    assert (shared.spec.category, shared.spec.when.message, shared.origin.name, shared.file_rank) == ("auth", "new",
                                                                                                      "b.yaml", 1)


def test_same_id_twice_in_one_file_last_wins(write):
    path = write("a.yaml", rules_file(rule("dup", category="network"), rule("mid"), rule("dup", category="auth")))
    rule_set = load_rules([path])
    assert ids(rule_set) == ["mid", "dup"]
    assert rule_set.rules[1].spec.category == "auth"


def test_enabled_false_removes_a_rule(write):
    first = write("a.yaml", rules_file(rule("keep"), rule("drop")))
    second = write("b.yaml", "rules:\n  - id: drop\n    enabled: false\n")  # a bare tombstone is valid
    assert ids(load_rules([first, second])) == ["keep"]


def test_enabled_false_then_redefined(write):
    first = write("a.yaml", rules_file(rule("r", category="network")))
    second = write("b.yaml", "rules:\n  - id: r\n    enabled: false\n")
    third = write("c.yaml", rules_file(rule("r", category="auth")))
    rule_set = load_rules([first, second, third])
    assert ids(rule_set) == ["r"] and rule_set.rules[0].spec.category == "auth"


def test_disabling_an_unknown_rule_is_harmless(write):
    path = write("a.yaml", "rules:\n  - id: never-defined\n    enabled: false\n")
    assert load_rules([path]).rules == []


def test_disabled_full_rule_is_not_loaded(write):
    path = write("a.yaml", rules_file(rule("disabled", extra="enabled: false"), rule("active")))
    assert ids(load_rules([path])) == ["active"]


# --------------------------------------------------------------------------- categories


def test_custom_category_usable_by_rules(write):
    path = write("a.yaml", """\
        categories:
          - name: payment_declined
            retryable: false
            severity: low
        rules:
          - id: card.declined
            when: {message: declined}
            category: payment_declined
        """)
    rule_set = load_rules([path])
    assert rule_set.categories["payment_declined"] == Category("payment_declined", False, "low")
    assert ids(rule_set) == ["card.declined"]
    assert set(BUILTIN_CATEGORIES) < set(rule_set.categories)


def test_custom_category_severity_defaults_to_medium(write):
    path = write("a.yaml", "categories:\n  - {name: quota, retryable: true}\n")
    assert load_rules([path]).categories["quota"] == Category("quota", True, "medium")


def test_category_from_a_later_file_usable_by_earlier_rules(write):
    first = write("a.yaml", rules_file(rule("r", category="billing")))
    second = write("b.yaml", "categories:\n  - {name: billing, retryable: false}\n")
    assert ids(load_rules([first, second])) == ["r"]


def test_file_may_redefine_a_builtin_category(write):
    path = write("a.yaml", "categories:\n  - {name: network, retryable: false, severity: critical}\n")
    assert load_rules([path]).categories["network"] == Category("network", False, "critical")
    assert BUILTIN_CATEGORIES["network"].retryable is True  # the built-in table is untouched


def test_custom_categories_do_not_leak_between_loads(write):
    load_rules([write("a.yaml", "categories:\n  - {name: billing, retryable: false}\n")])
    assert "billing" not in load_rules([]).categories


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("entry", "field", "says"),
    [
        ("when: {message: '(unclosed'}\n    category: network", "field when.message", "invalid regular expression"),
        ("when: {message: x}\n    category: network\n    colour: red", "field colour",
         "Extra inputs are not permitted"),
        ("when: {message: x, colour: red}\n    category: network", "field when.colour",
         "Extra inputs are not permitted"),
        ("when: {http_status: 600}\n    category: network", "field when.http_status", "600 is not a status"),
        ("when: {http_status: 99}\n    category: network", "field when.http_status", "99 is not a status"),
        ("when: {http_status: '5x'}\n    category: network", "field when.http_status", "'5x' is not a status"),
        ("when: {http_status: '6xx'}\n    category: network", "field when.http_status", "'6xx' is not a status"),
        ("when: {http_status: '500-'}\n    category: network", "field when.http_status", "is not a status"),
        ("when: {http_status: abc}\n    category: network", "field when.http_status", "is not a status"),
        ("when: {layer: middle, message: x}\n    category: network", "field when.layer", "'any' or 'top'"),
        ("when: {type: ''}\n    category: network", "field when.type.0", "at least 1 character"),
        ("when: {message: x}\n    category: network\n    severity: huge", "field severity", "'critical'"),
        ("when: {message: x}\n    category: network\n    confidence: 1.5", "field confidence",
         "less than or equal to 1"),
        ("when: {message: x}\n    category: network\n    priority: 1001", "field priority",
         "less than or equal to 1000"),
        ("when: {message: x}\n    category: network\n    retryable: maybe", "field retryable", "boolean"),
    ],
)
def test_schema_errors_name_file_rule_entry_and_field(write, entry, field, says):
    path = write("custom.yaml", rules_file(rule("fine"), f"  - id: broken\n    {entry}\n"))
    message = load_error(path)
    assert message.startswith(f"rules file {path}: invalid:")
    assert "rule 'broken' (entry 2)" in message
    assert field in message
    assert says in message


def test_bad_rule_id(write):
    path = write("a.yaml", rules_file(rule("has space")))
    message = load_error(path)
    assert "rule 'has space' (entry 1), field id" in message


def test_missing_rule_id(write):
    path = write("a.yaml", "rules:\n  - when: {message: x}\n    category: network\n")
    assert "rule None (entry 1), field id: Field required" in load_error(path)


def test_rule_entry_not_a_mapping(write):
    path = write("a.yaml", rules_file(rule("ok")) + "  - just a string\n")
    assert "(entry 2), field (the entry)" in load_error(path)


def test_every_schema_error_is_listed(write):
    path = write("a.yaml", rules_file(
        "  - id: one\n    when: {message: '['}\n    category: network\n",
        "  - id: two\n    when: {http_status: 700}\n    category: network\n",
    ))
    message = load_error(path)
    assert "rule 'one' (entry 1), field when.message" in message
    assert "rule 'two' (entry 2), field when.http_status" in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("version: 2\n", "version"),
        ("rules: {id: x}\n", "rules"),
        ("colour: red\n", "colour"),
        ("categories:\n  - {name: Bad-Name, retryable: true}\n", "categories.0.name"),
        ("categories:\n  - {name: fine}\n", "categories.0.retryable"),
        ("- a list\n", "valid dictionary"),
    ],
)
def test_file_level_schema_errors(write, text, says):
    path = write("a.yaml", text)
    message = load_error(path)
    assert message.startswith(f"rules file {path}: invalid:")
    assert says in message


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("when: {message: x}\n    category: nope", "field category: 'nope' is not a known category"),
        ("when: {message: x}", "field category: missing"),
        ("when: {}\n    category: network", "field when: needs at least one condition"),
        ("when: {layer: top}\n    category: network", "field when: needs at least one condition"),
        ("category: network", "field when: needs at least one condition"),
    ],
)
def test_completeness_errors_name_file_rule_and_field(write, entry, says):
    path = write("custom.yaml", rules_file(rule("fine"), f"  - id: broken\n    {entry}\n"))
    message = load_error(path)
    assert "custom.yaml: rule 'broken' (entry 2)" in message
    assert "rule 'broken'" in message
    assert says in message


def test_completeness_errors_name_entry_number_and_path(write):
    path = write("custom.yaml", rules_file(rule("fine"), rule("broken", category="nope")))
    message = load_error(path)
    assert str(path) in message and "(entry 2)" in message


def test_unknown_category_error_lists_known_categories(write):
    message = load_error(write("a.yaml", rules_file(rule("r", category="nope"))))
    assert all(name in message for name in BUILTIN_CATEGORIES)


def test_error_names_the_file_that_defines_the_rule(write):
    first = write("first.yaml", rules_file(rule("ok")))
    second = write("second.yaml", rules_file(rule("bad", category="nope")))
    message = load_error(first, second)
    assert "second.yaml" in message and "first.yaml" not in message


def test_replacing_a_broken_rule_fixes_it(write):
    broken = write("a.yaml", rules_file(rule("r", category="nope")))
    fixed = write("b.yaml", rules_file(rule("r", category="network")))
    assert ids(load_rules([broken, fixed])) == ["r"]


def test_invalid_yaml(write):
    path = write("a.yaml", "rules: [\n")
    message = load_error(path)
    assert message.startswith(f"rules file {path}: not valid YAML")


def test_invalid_yaml_in_a_later_file(write):
    good = write("a.yaml", rules_file(rule("ok")))
    bad = write("b.yaml", "rules:\n  - id: x\n   bad indent: [\n")
    message = load_error(good, bad)
    assert str(bad) in message and "not valid YAML" in message


def test_unreadable_file(tmp_path):
    path = tmp_path / "absent.yaml"
    message = load_error(path)
    assert message == f"rules file {path}: cannot read: No such file or directory"


def test_directory_instead_of_file(tmp_path):
    message = load_error(tmp_path)
    assert message.startswith(f"rules file {tmp_path}: cannot read")


def test_load_rule_file_parses_one_file(write):
    parsed = load_rule_file(write("a.yaml", rules_file(rule("a"), rule("b"))))
    assert [r.id for r in parsed.rules] == ["a", "b"]


def test_inverted_status_range_rejected(write):
    path = write("a.yaml", "rules:\n  - id: r\n    when: {http_status: '599-500'}\n    category: network\n")
    assert "field when.http_status" in load_error(path)


@pytest.mark.parametrize("condition", ["type", "http_status", "errno", "service"])
def test_empty_condition_list_rejected(write, condition):
    path = write("a.yaml", f"rules:\n  - id: r\n    when: {{{condition}: []}}\n    category: network\n")
    assert "field when" in load_error(path)
