"""Ingest the user's own documents: find, parse, chunk into notes, then write the index (`index/`)."""
