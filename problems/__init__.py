"""Built-in problems, written against the public contract only (`from patternboost import Problem`)."""
