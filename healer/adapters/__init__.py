"""Adapters: the only modules that import SDKs; each implements a port."""
