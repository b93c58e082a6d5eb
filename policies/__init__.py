"""YAML policies validated by pydantic; read by every other part.

``RequestKind`` is :class:`ledger.RequestKind` (the one vocabulary of request kinds), re-exported for routing.
"""

from ledger import RequestKind
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
    Intake,
    AuditSchedule,
    Deadlines,
    DeadlineState,
    DeadlineStanding,
    Policy,
    PolicyError,
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
    "Intake",
    "AuditSchedule",
    "Deadlines",
    "DeadlineState",
    "DeadlineStanding",
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
