"""PatternBoost: generate -> local search -> select -> train a transformer -> sample -> repeat."""
from patternboost.density import Density
from patternboost.discovery import Discovery
from patternboost.errors import UserError
from patternboost.executor import ExecutorConfig, make_executor
from patternboost.problem import Problem, object_seeds
from patternboost.registry import load_problem
from patternboost.rundir import write_atomic
from patternboost.tasks import Task, parsed

__all__ = ["Density", "Discovery", "ExecutorConfig", "Problem", "Task", "UserError", "load_problem", "make_executor",
           "object_seeds", "parsed", "write_atomic"]
__version__ = "0.2.0"
