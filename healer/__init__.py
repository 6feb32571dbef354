"""The healer: a self-healing operations daemon."""
