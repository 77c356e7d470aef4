"""Ingest: read sources, render records to canonical text, count tokens, quarantine bad records."""
