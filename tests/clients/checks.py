"""The checks of the Python client programs (psycopg_test.py, sqlalchemy_test.py): each
failed check prints one `FAIL ...` line, and `finish` prints the summary that
tests/clients.rs looks for and exits 1 if any check failed."""

import sys
import traceback

failures = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
        print("FAIL", what, flush=True)


def check_equal(expected, actual, what):
    check(expected == actual and type(expected) is type(actual),
          f"{what}: expected {expected!r}, got {actual!r}")


def section(name, action, *args):
    """Runs one group of checks; an exception fails the group and the others still run."""
    try:
        action(*args)
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the next group runs
        check(False, f"{name}: {type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stdout)


def finish(client):
    print(f"{client}: {checks - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
