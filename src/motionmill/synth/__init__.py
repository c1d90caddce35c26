"""The built-in corpus: procedural human motion with compositional captions, predicates and a zero-shot split."""
