import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# tests/projects/<shape>/ are sample projects (their own pyproject.toml, packages and prove.py)
# that tests/test_projects.py copies and checks: never collect them as tests.
collect_ignore_glob = ["projects/*"]
