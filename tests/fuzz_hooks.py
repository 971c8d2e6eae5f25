"""Schemathesis hooks for the fuzzing test (loaded through ``SCHEMATHESIS_HOOKS``): a request to
GitHub's partner endpoint is signed as GitHub signs it, with the key the test made a trusted partner
key, so that generated bodies get past the signature and reach the parser (a case Schemathesis made
without one of the two headers keeps it out).  The body is signed as the
transport serialises it (``json.dumps`` of the generated value); a body that is not JSON is signed as
its bytes."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

PARTNER_PATH = "/v1/partners/github/secret-scanning"


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    if case.operation.path != PARTNER_PATH or "KEYSENTRY_FUZZ_SIGNING_KEY" not in os.environ:
        return
    with open(os.environ["KEYSENTRY_FUZZ_SIGNING_KEY"], "rb") as pem:
        key = serialization.load_pem_private_key(pem.read(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    body = case.body
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode()
    else:
        try:
            raw = json.dumps(body).encode()
        except (TypeError, ValueError):
            return  # nothing JSON can say: sent unsigned, and refused with 401 as documented
    # Only the headers the case carries: one Schemathesis left out on purpose stays out (refused, 401).
    headers = dict(case.headers or {})
    if "Github-Public-Key-Identifier" in headers:
        headers["Github-Public-Key-Identifier"] = os.environ["KEYSENTRY_FUZZ_KEY_ID"]
    if "Github-Public-Key-Signature" in headers:
        signature = key.sign(raw, ec.ECDSA(hashes.SHA256()))
        headers["Github-Public-Key-Signature"] = base64.b64encode(signature).decode()
    case.headers = headers
