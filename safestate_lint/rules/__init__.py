"""The rules, one per file; `ALL_RULES` is the registry in code order."""

from __future__ import annotations

from typing import Dict, List, Type

from safestate_lint.rules.base import Rule
from safestate_lint.rules.sst101_shared_global_read_modify_write import SharedGlobalReadModifyWrite
from safestate_lint.rules.sst102_shared_container_mutation import SharedContainerMutation
from safestate_lint.rules.sst103_shared_container_check_then_act import SharedContainerCheckThenAct
from safestate_lint.rules.sst104_shared_container_iteration import SharedContainerIteration
from safestate_lint.rules.sst105_unlocked_shared_mutation import UnlockedSharedMutation
from safestate_lint.rules.sst201_check_then_act_singleton import CheckThenActSingleton
from safestate_lint.rules.sst202_check_then_act_class_singleton import CheckThenActClassSingleton
from safestate_lint.rules.sst203_broken_double_checked_locking import BrokenDoubleCheckedLocking
from safestate_lint.rules.sst301_shared_class_attribute_mutation import SharedClassAttributeMutation
from safestate_lint.rules.sst302_inconsistent_locking import InconsistentLocking
from safestate_lint.rules.sst303_guarded_by_violation import GuardedByViolation
from safestate_lint.rules.sst304_unprotected_state_in_thread_safe_class import UnprotectedStateInThreadSafeClass
from safestate_lint.rules.sst401_lock_created_per_call import LockCreatedPerCall
from safestate_lint.rules.sst402_acquire_without_release import AcquireWithoutRelease
from safestate_lint.rules.sst403_lock_order_inversion import LockOrderInversion
from safestate_lint.rules.sst404_blocking_call_under_lock import BlockingCallUnderLock
from safestate_lint.rules.sst405_await_under_thread_lock import AwaitUnderThreadLock

ALL_RULES: List[Type[Rule]] = [
    SharedGlobalReadModifyWrite,
    SharedContainerMutation,
    SharedContainerCheckThenAct,
    SharedContainerIteration,
    UnlockedSharedMutation,
    CheckThenActSingleton,
    CheckThenActClassSingleton,
    BrokenDoubleCheckedLocking,
    SharedClassAttributeMutation,
    InconsistentLocking,
    GuardedByViolation,
    UnprotectedStateInThreadSafeClass,
    LockCreatedPerCall,
    AcquireWithoutRelease,
    LockOrderInversion,
    BlockingCallUnderLock,
    AwaitUnderThreadLock,
]
RULES_BY_CODE: Dict[str, Type[Rule]] = {rule.code: rule for rule in ALL_RULES}
RULES_BY_NAME: Dict[str, Type[Rule]] = {rule.name: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "RULES_BY_CODE", "RULES_BY_NAME", "Rule"]
