"""Response: attribute → contain → announce, as a declared state machine over stored exposures."""

from keysentry.respond.responder import Responder, StepResult
from keysentry.respond.steps import StepContext

__all__ = ["Responder", "StepContext", "StepResult"]
