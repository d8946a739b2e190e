"""The test suite. A regular package, so that `tests.<pkg>.<module>` (the name spawned ranks import) is
this folder and not the top-level `tests` package that latex2sympy2 (an lmms-eval dependency) installs."""
