"""Input and output formats: one module per format, reader and writer together; ``reader.read_dump`` picks one by content."""
