"""The stages of one poll, each a plain function over domain values and ports."""
