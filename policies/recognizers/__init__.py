"""Presidio recognizers for German and EU identifiers, one small module per family."""
