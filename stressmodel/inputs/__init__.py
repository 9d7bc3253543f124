"""Reading and validating the inputs folder: files, vocabularies, periods, statements,
sector assumptions, scenario definitions."""
