"""Per-job certificates: one CA for each transfer, a certificate per gateway and one for the runner.

Why a CA per job: the data channel between gateways is TLS with mutual authentication, so a
peer must prove it belongs to *this* transfer, not merely that it holds some valid certificate.
The runner creates the CA when the job starts, signs one key pair per gateway (and one for
itself, to call the control API), hands each gateway only its own key, and throws the CA key
away with the job directory at teardown. Nothing here is a long-lived secret.

Certificates name no host: gateways reach each other by IP on clouds and in the testbed, so
peers are checked by the chain (signed by the job's CA) and not by hostname.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = dt.timedelta(days=2)  # a transfer that outlives this is ended by its TTL anyway
CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "cert.pem", "key.pem"


@dataclass(frozen=True)
class Identity:
    """One party's certificate and private key (PEM), plus the job's CA certificate."""

    name: str
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    def write(self, directory: Path) -> Path:
        """Store the three PEM files, private key readable by the owner only."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (directory / CA_FILE).write_bytes(self.ca_pem)
        (directory / CERT_FILE).write_bytes(self.cert_pem)
        key = directory / KEY_FILE
        key.touch(mode=0o600, exist_ok=True)
        key.chmod(0o600)
        key.write_bytes(self.key_pem)
        return directory


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class JobAuthority:
    """The CA of one transfer job; signs gateway and runner identities."""

    def __init__(self, job_id: str, key: ec.EllipticCurvePrivateKey | None = None,
                 cert: x509.Certificate | None = None) -> None:  # fmt: skip
        self.job_id = job_id
        self._key = key or ec.generate_private_key(ec.SECP256R1())
        if cert is not None:
            self.cert = cert
            return
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"sky-job-{job_id}-ca"))
            .issuer_name(_name(f"sky-job-{job_id}-ca"))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )  # fmt: skip

    def save(self, directory: Path) -> None:
        """Keep the CA in the runner's job directory (0700), so a re-plan can add gateways."""
        Identity("ca", self.ca_pem, self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ), self.ca_pem).write(directory)  # fmt: skip

    @classmethod
    def load(cls, directory: Path, job_id: str) -> JobAuthority:
        key = serialization.load_pem_private_key((directory / KEY_FILE).read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(job_id, key, x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes()))

    @property
    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, name: str) -> Identity:
        """A key pair for one party, valid as both TLS server and client (gateways are both)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"sky-job-{self.job_id}-{name}"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return Identity(name, cert.public_bytes(serialization.Encoding.PEM), key_pem, self.ca_pem)


def _context(purpose: ssl.Purpose, directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(purpose, cafile=str(directory / CA_FILE))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(directory / CERT_FILE), str(directory / KEY_FILE))
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = False  # peers are IPs; the job CA's signature is what is checked
    return context


def server_context(directory: Path) -> ssl.SSLContext:
    """Accept only clients presenting a certificate signed by this job's CA (data and control)."""
    return _context(ssl.Purpose.CLIENT_AUTH, directory)


def client_context(directory: Path) -> ssl.SSLContext:
    """Dial only servers presenting a certificate signed by this job's CA, and present ours."""
    return _context(ssl.Purpose.SERVER_AUTH, directory)


TOKEN_FILE = "token"


def write_token(directory: Path, token: str) -> None:
    path = directory / TOKEN_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(token)


def read_token(directory: Path) -> str:
    return (directory / TOKEN_FILE).read_text().strip()
