"""Recovery: plans, the execution state machine, replays, and what drives them."""
