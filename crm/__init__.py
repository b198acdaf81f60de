"""Passerelle: an outreach CRM with messaging channels."""

__version__ = "0.1.0"
