"""Loom net package."""
