"""`medic serve`: Prometheus metrics, health probes and a token-protected JSON API over medic's database."""
