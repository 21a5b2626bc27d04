"""The example shop's configuration: a package named `config`, as many apps have (the client must not clash).

settings: where the broker, the counters and medic's broker are (environment variables).
celery_app: the Celery app, with medic's client installed in one line.
"""
