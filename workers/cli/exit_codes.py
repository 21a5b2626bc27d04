"""What `medic` exit codes mean; documented in the README."""

OK = 0
FAILED = 1  # the command ran and found a problem (e.g. `classify --check` mismatches)
USAGE = 2  # bad arguments or bad input (click uses 2 for usage errors too)
CONFIG = 3  # invalid settings, rules or plans
NOT_FOUND = 4  # an id names nothing
UNAVAILABLE = 5  # the database or broker cannot be reached
