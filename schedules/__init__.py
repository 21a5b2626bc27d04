"""The beat schedule: which periodic task runs when, built from settings at startup.

beat: `beat_schedule(settings)`, the recovery sweeper every MEDIC_RECOVERY_SWEEP_INTERVAL_S
and one `medic.maintenance.run` entry per enabled maintenance job (config/jobs/schedule.py).
Which scheduler runs it is decided in config/celery_app.py: RedBeat under a Redis lock, else
workers/beat_file.py's JSON file (Celery's default scheduler would persist with pickle).
"""
