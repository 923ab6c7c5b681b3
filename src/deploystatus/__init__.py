"""deploystatus: where deploy tooling records deployment states and people read them."""

__version__ = "0.1.0"
