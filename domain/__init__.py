"""Pure domain code: no I/O. Imported by workflows (inside the sandbox), api and ui alike."""
