"""The pure core: tables -> rules -> patterns -> compiled index -> evaluate -> Decision.

Nothing in this package does I/O: the drivers hand it `TableSource`s (rules.py) and answer the
facts it asks for; see docs/design.md and docs/rules.md.
"""
