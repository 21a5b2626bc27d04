"""What a messages file may contain: audiences, recovery situations, and the placeholders each
section and audience may use."""

from __future__ import annotations

from dataclasses import dataclass

from workers.recovery.states import CANCELLED, DEAD, FAILED, PENDING, RUNNING, SUCCEEDED, WAITING

END_USER, OPERATOR, DEVELOPER = "end_user", "operator", "developer"
AUDIENCES = (END_USER, OPERATOR, DEVELOPER)
DEFAULT_KEY = "default"  # the entry of a section used for a category or alert rule that has none
TEXT_KEY = "text"  # in an entry with variants: the text used when no variant fits

RETRYING, RECOVERED, GAVE_UP, NO_RECOVERY = "retrying", "recovered", "gave_up", "none"
SITUATIONS = (RETRYING, RECOVERED, GAVE_UP, NO_RECOVERY)
_SITUATION_OF_STATE = {PENDING: RETRYING, RUNNING: RETRYING, WAITING: RETRYING, SUCCEEDED: RECOVERED,
                       FAILED: GAVE_UP, DEAD: GAVE_UP, CANCELLED: GAVE_UP}

ALERT_STATES = ("open", "acknowledged", "resolved")  # as in workers/maintenance/health/alerts.py

GROUP_FIELDS = ("id", "category", "severity", "retryable", "confidence", "rule_id", "service", "operation",
                "error_type", "message_template", "status", "occurrence_count", "first_seen", "last_seen",
                "recovery_state", "next_attempt_at", "plan_name")
# End users see no internals: nothing that names code, services, rules or medic's own ids.
END_USER_FIELDS = ("first_seen", "last_seen", "next_attempt_at")
RECOVERY = "recovery"  # the placeholder whose text is the locale's phrase for the recovery situation
ALERT_FIELDS = ("id", "rule", "subject", "level", "state", "summary", "opened_at", "last_seen_at")
ALERT_DETAIL_FIELDS = ("metric", "value", "threshold")  # taken from the alert's `detail`


@dataclass(frozen=True)
class Section:
    name: str
    variants: tuple[str, ...]  # the keys an entry may have besides `text`
    placeholders: dict[str, frozenset[str]]  # audience -> placeholder names its templates may use

    @property
    def audiences(self) -> tuple[str, ...]:
        return tuple(self.placeholders)


_GROUP_ALL = frozenset((*GROUP_FIELDS, RECOVERY))
_ALERT_ALL = frozenset((*ALERT_FIELDS, *ALERT_DETAIL_FIELDS))
GROUPS = Section("groups", SITUATIONS, {END_USER: frozenset(END_USER_FIELDS), OPERATOR: _GROUP_ALL,
                                        DEVELOPER: _GROUP_ALL})
ALERTS = Section("alerts", ALERT_STATES, {OPERATOR: _ALERT_ALL, DEVELOPER: _ALERT_ALL})
SECTIONS = {section.name: section for section in (GROUPS, ALERTS)}

# phrases.recovery.<situation>: may use the group placeholders but not {recovery} itself
RECOVERY_PHRASE_FIELDS = frozenset(GROUP_FIELDS)
# phrases.missing.<placeholder>: what a None value renders as; `default` for every placeholder
MISSING_KEYS = frozenset((*GROUP_FIELDS, *ALERT_FIELDS, *ALERT_DETAIL_FIELDS, DEFAULT_KEY))


def recovery_situation(recovery_state: str | None) -> str:
    """The recovery situation texts vary by, from the state of the group's newest execution."""
    return _SITUATION_OF_STATE.get(recovery_state, NO_RECOVERY) if isinstance(recovery_state, str) else NO_RECOVERY
