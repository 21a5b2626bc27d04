"""Settings of each maintenance job, one module a job; `config.settings.Settings` nests them."""
