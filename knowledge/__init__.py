"""Knowledge base: entries, file formats, text normalisation, matching and evaluation."""
