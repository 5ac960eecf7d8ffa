"""The school calendar (校历) of each county: terms and holidays, set by its education bureau."""
