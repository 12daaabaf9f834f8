"""The pure core: tables -> rules -> patterns -> compiled index -> evaluate -> Decision.

Nothing in this package does I/O except through the small `TableSource` seam in `tables.py`
that the drivers give it; see DESIGN.md.
"""
