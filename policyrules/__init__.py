"""policyrules: compile trust-and-safety policy rules into fast matchers with explained verdicts."""

from .errors import PolicyCompileError as PolicyCompileError
from .errors import PolicyError as PolicyError
from .errors import PolicySyntaxError as PolicySyntaxError
from .errors import PostError as PostError

__version__ = "0.1.0"
