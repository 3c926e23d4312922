"""One module per tutorial step: typed records and pure parsers (`parse(lines, source)` over numbered
log lines, or functions over already-read files). They never open a file: checks.run does."""
