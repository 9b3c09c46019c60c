"""Pure domain code: no I/O, no clock, no framework imports."""
