"""The backup job: archive the database and config files, verify the archive, keep what retention says.

Modules: manifest (what an archive declares), archive (writing and safely reading the tar.gz),
tables (medic's tables and their row counts), sqlite / postgres (dump, check and restore per
database kind; pgclient runs PostgreSQL's tools), create (one archive), verify, retention (pure),
catalog (the backups table), restore, workspace (temporary directories), errors (refused archives,
refused restores, failed tools), job (the scheduled run). See docs/maintenance/backup.md.
"""
