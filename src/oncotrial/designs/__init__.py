"""Dose-finding designs: a pure ``decide(state)`` and a vectorised simulator per design."""
