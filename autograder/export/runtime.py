"""``autograder.platforms.runtime`` under its former name (see the package docstring).

The same module object: monkeypatching or importing either name gives one and the same runtime.
"""

import sys

from autograder.platforms import runtime as _runtime

if __name__ == "__main__":  # python -m autograder.export.runtime FILE --out JSON
    sys.exit(_runtime.main())
sys.modules[__name__] = _runtime
