"""YAML policies validated by pydantic; read by every other part."""

from policies._activation import (
    ACTIVE_POLICY_FILE,
    POLICY_ACTIVATED,
    activate_policy,
    active_policy_path,
    record_policy,
    recorded_policy,
)
from policies._policy import (
    DEFAULT_POLICY_PATH,
    Approvers,
    AuditSchedule,
    Deadlines,
    Policy,
    PolicyError,
    RequestKind,
    Retention,
    Role,
    Routing,
    VerificationThresholds,
    gdpr_deadline,
    load_policy,
)

__all__ = [
    "ACTIVE_POLICY_FILE",
    "DEFAULT_POLICY_PATH",
    "POLICY_ACTIVATED",
    "Approvers",
    "AuditSchedule",
    "Deadlines",
    "Policy",
    "PolicyError",
    "RequestKind",
    "Role",
    "Retention",
    "Routing",
    "VerificationThresholds",
    "activate_policy",
    "active_policy_path",
    "gdpr_deadline",
    "load_policy",
    "record_policy",
    "recorded_policy",
]
