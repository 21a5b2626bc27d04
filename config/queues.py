"""medic's queues; apps send `medic.report` to INTAKE_QUEUE."""

INTAKE_QUEUE = "medic.errors"
RECOVERY_QUEUE = "medic.recovery"
MAINTENANCE_QUEUE = "medic.maintenance"
QUEUES = (INTAKE_QUEUE, RECOVERY_QUEUE, MAINTENANCE_QUEUE)
