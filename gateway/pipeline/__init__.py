"""The pipeline runner: one spool entry parsed, classified, checked and disposed of."""
