"""Reading and writing: images, masks, NIfTI fields and summaries (atomically), pairs
CSV files, and figures."""
