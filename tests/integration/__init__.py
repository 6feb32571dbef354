"""Integration tests against real servers (Prometheus from Debian's package)."""
