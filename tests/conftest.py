from tests.fixtures_daemon import *  # noqa: F401,F403
