"""Firm workbook sheets, one module per sheet family; :mod:`.firm` assembles the workbook."""
