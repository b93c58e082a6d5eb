"""YAML policies validated by pydantic; read by every other part."""

from policies._policy import DEFAULT_POLICY_PATH, Deadlines, Policy, PolicyError, VerificationThresholds, load_policy

__all__ = ["DEFAULT_POLICY_PATH", "Deadlines", "Policy", "PolicyError", "VerificationThresholds", "load_policy"]
