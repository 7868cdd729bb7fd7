"""A throwaway certificate for the TLS rows (``trustme``), shared by every worker of a run.

The parent makes it once (:func:`prepare`, before any worker starts) and
names its directory in the environment, which every worker inherits; a
server loads the certificate and key, a client trusts the authority. The
files go when the parent exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

#: The directory holding ``cert.pem``, ``key.pem`` and ``ca.pem``.
CERTS_ENV = "PYGNETIC_BENCH_CERTS"


def prepare() -> str:
    """Make the certificate (once per run) and return its directory."""
    directory = os.environ.get(CERTS_ENV)
    if directory and os.path.isfile(os.path.join(directory, "ca.pem")):
        return directory
    import trustme

    directory = tempfile.mkdtemp(prefix="pygnetic-bench-certs-")
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(directory, True))
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    certificate.cert_chain_pems[0].write_to_path(os.path.join(directory, "cert.pem"))
    certificate.private_key_pem.write_to_path(os.path.join(directory, "key.pem"))
    authority.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    os.environ[CERTS_ENV] = directory
    return directory


def _directory() -> str:
    directory = os.environ.get(CERTS_ENV)
    if not directory:
        raise RuntimeError(f"a TLS row needs certs.prepare() in the parent ({CERTS_ENV} unset)")
    return directory


def server_files() -> tuple[str, str]:
    """``(certfile, keyfile)``: a server's ``tls=``."""
    directory = _directory()
    return os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")


def authority_file() -> str:
    """The authority's PEM file: a client's ``tls=``."""
    return os.path.join(_directory(), "ca.pem")
