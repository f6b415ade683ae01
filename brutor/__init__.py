"""Brutor: a governed AI gateway — one endpoint, one policy, one audit trail."""

__version__ = "0.1.0"
