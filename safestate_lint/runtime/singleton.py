"""Deprecated module path: the module is `safestate_lint.runtime.singletons` now.

Import the names from the package: `from safestate_lint.runtime import singleton, Singleton`.

The old module shared its name with the `singleton` function, and importing it replaced the
package attribute `singleton` (the function) with the module.  Both `import
safestate_lint.runtime.singleton as m` and `from safestate_lint.runtime import singleton`
read that one package attribute, so it cannot be a module for the first and the function for
the second.  This module therefore warns, gives the function the old module's public names
(`m.singleton`, `m.Singleton`, `m.check_not_creating`: old code keeps working) and stands for
itself in `sys.modules` as the function, so the package attribute stays the function in every
import order.  To be removed in the release after next.
"""

from __future__ import annotations

import sys
import warnings

from safestate_lint.runtime import singletons as _singletons

warnings.warn("the module safestate_lint.runtime.singleton is deprecated: import singleton and Singleton "
              "from safestate_lint.runtime (the module is safestate_lint.runtime.singletons)",
              DeprecationWarning, stacklevel=2)

_function = _singletons.singleton
for _name in ("singleton", "Singleton", "check_not_creating"):
    setattr(_function, _name, getattr(_singletons, _name))
sys.modules[__name__] = _function  # type: ignore[assignment]  # the import system binds it on the package
