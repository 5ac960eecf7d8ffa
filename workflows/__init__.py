"""Temporal workflows: one module per process, and the shared step machinery (base.py).

Workflow modules import only domain/ and the activities' names, never db/, api/ or ui/.
"""
