"""Intake: a reported event in, a stored occurrence or a kept rejection out.

contract: the `medic.report` event (pydantic), schema version 1.
triage: pure: validate, cap, mask, classify, fingerprint; an Accepted event or a Rejected payload.
fingerprint: grouping key of an error (type, normalised message, service, operation).
service: `IntakeService`: triage plus storage and the start of recovery, in one transaction.
batching: the consumer holds `medic.report` messages and runs them in batches in the pool.
acks: a stored batch's messages acknowledged together (one Redis round trip, not one each).
store: intake's SQL: a batch's groups, occurrences and rejected events written in one transaction.
queries: intake's results read back: groups (searched), occurrences, hourly counts, rejected events, counts.
group_status: resolve or reopen an error group, row-locked and audited.
consumer: Celery consumer hooks that keep undecodable or unknown messages as rejected events.
wire_limits: how large a task message may be before it is decoded at all (raw body and header sizes).
cut_rejections: a rejected payload cut to its first bytes before masking (oversized or too slow events).
"""
