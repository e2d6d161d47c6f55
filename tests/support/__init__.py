"""Test support: fixtures (registered through ``pytest_plugins`` in tests/conftest.py) and helpers."""
