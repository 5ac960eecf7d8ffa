"""Builds the Temporal client and runs the worker."""
