"""One fresh decoding/feature cache for the whole test session (subprocesses inherit it), so tests
never read or fill a user's ~/.cache/ssl_lab. Folders that need isolation per test override it."""

import os
import tempfile

os.environ["SSL_LAB_CACHE"] = tempfile.mkdtemp(prefix="ssl-lab-test-cache-")
