"""The registry (台账): the agencies' lists imported, matched, reviewed and applied; the list of children in a
clerk's area; the cases the registry proposes. Shared code: it reads process definitions, names none."""
