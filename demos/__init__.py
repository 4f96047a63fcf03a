"""Loom demos package."""
