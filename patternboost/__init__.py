"""PatternBoost: generate -> local search -> select -> train a transformer -> sample -> repeat."""
from patternboost.discovery import Discovery
from patternboost.errors import UserError
from patternboost.problem import Problem, object_seeds
from patternboost.registry import load_problem
from patternboost.tasks import Task, parsed

__all__ = ["Discovery", "Problem", "Task", "UserError", "load_problem", "object_seeds", "parsed"]
__version__ = "0.2.0"
