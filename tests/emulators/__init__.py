"""Wire-level emulators of third-party HTTP APIs, for tests that drive the real clients."""
