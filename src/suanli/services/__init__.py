"""Use cases: one function per command, each inside one unit of work (a DB session)."""
