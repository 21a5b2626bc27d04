"""The backup job: archive the database and config files, verify the archive, keep what retention says.

Modules: manifest (what an archive declares), signing (the manifest's HMAC), keyfile (where the
signing key comes from), trust (whether to read an archive past its manifest), archive (writing and
safely reading the tar.gz), limits (bounds on what reading an archive costs), diskspace (room to
extract), tables (medic's tables and their row counts), sqlite / postgres (dump, check and restore
per database kind; pgclient runs PostgreSQL's tools, pglisting reads what a dump holds), create (one
archive), lookup (finding an archive and its registry row), verify, retention (pure), catalog (the
backups table), restore, workspace (temporary directories), errors (refused and untrusted archives,
refused restores, failed tools), job (the scheduled run). See docs/maintenance/backup.md.
"""
