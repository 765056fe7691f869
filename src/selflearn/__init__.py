"""selflearn: a language model learns what it does not know (Ferdinan et al., arXiv 2402.09147).

Heavy libraries (torch, transformers, trl) are imported only inside the functions that need them,
so importing this package and `selflearn --help` stay fast.
"""

__version__ = "0.1.0"
