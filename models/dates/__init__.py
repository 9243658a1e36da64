"""A small encoder-decoder trained here: dates written in words to ISO digits, whose alignment is known."""
