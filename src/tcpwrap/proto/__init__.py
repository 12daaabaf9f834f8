"""Wire and text formats (ident, log records, inetd.conf): pure parsing and rendering."""
