"""Corpus building: source readers, quality filters, the sharded store, the build pipeline and training datasets."""
