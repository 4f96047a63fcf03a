"""Loom simulation kernel and world."""
