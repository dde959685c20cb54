"""PatternBoost: generate -> local search -> select -> train a transformer -> sample -> repeat."""
from patternboost.errors import UserError
from patternboost.problem import Problem, object_seeds
from patternboost.registry import load_problem

__all__ = ["Problem", "UserError", "load_problem", "object_seeds"]
__version__ = "0.1.0"
