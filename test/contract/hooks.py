"""Schemathesis hooks for the contract test (test/api/contract.test.ts): sign webhooks like an EHR does, and keep
every EHR URL the fuzzer sends on loopback.

Loaded with SCHEMATHESIS_HOOKS=hooks (this folder on PYTHONPATH). The test passes the throwaway stack's clinic and
its webhook secret in AUTOPILOT_CLINIC_ID and AUTOPILOT_WEBHOOK_SECRET.

A webhook request whose generated case carries both X-Autopilot-Timestamp and X-Autopilot-Signature is sent for the
real clinic with a fresh timestamp and a valid `v1=` HMAC-SHA256 of "{timestamp}.{raw body}" (the contract in
api/middleware/webhook-signature.ts), so generated bodies reach the body validation and case intake instead of
stopping at 401. Cases that leave a header out (missing-header checks) or negate the path are sent as generated.

EHR URLs in clinic bodies (`fhirBaseUrl`, `fhirTokenUrl`) are replaced by a closed loopback port before sending:
the stack would call them (connection checks, triage), and tests talk only to loopback. An http(s) URL stays an
http(s) URL, so what the case tests is unchanged; other values (negative cases) are sent as generated.
"""

import hashlib
import hmac
import os
import time

import requests
import schemathesis
from schemathesis.core.parameters import ParameterLocation

WEBHOOK_PATHS = ("/v1/webhooks/{clinicId}/refill-requests", "/v1/webhooks/{clinicId}/events")
URL_FIELDS = ("fhirBaseUrl", "fhirTokenUrl")
# Port 9 (discard) on loopback: nothing listens there, a connection is refused at once.
LOOPBACK_EHR = "http://127.0.0.1:9/fhir/R4"
TIMESTAMP = "x-autopilot-timestamp"
SIGNATURE = "x-autopilot-signature"


def _header_names(headers):
    return {name.lower(): name for name in (headers or {})}


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.body, dict):
        for field in URL_FIELDS:
            value = case.body.get(field)
            if isinstance(value, str) and value.lower().startswith(("http://", "https://")):
                case.body[field] = LOOPBACK_EHR
    if case.operation.path in WEBHOOK_PATHS and case.method.upper() == "POST":
        sign(case)


def sign(case):
    names = _header_names(case.headers)
    if TIMESTAMP not in names or SIGNATURE not in names:
        return
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters["clinicId"] = os.environ["AUTOPILOT_CLINIC_ID"]
    # The exact bytes requests will send: serialise the case the way the transport does, then prepare it.
    wire = case.as_transport_kwargs(base_url="http://signing.invalid")
    raw = requests.Request(method="POST", url=wire["url"], json=wire.get("json"), data=wire.get("data")).prepare().body
    if raw is None:
        raw = b""
    elif isinstance(raw, str):
        raw = raw.encode("utf-8")
    timestamp = str(int(time.time()))
    secret = os.environ["AUTOPILOT_WEBHOOK_SECRET"].encode("utf-8")
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + raw, hashlib.sha256).hexdigest()
    case.headers[names[TIMESTAMP]] = timestamp
    case.headers[names[SIGNATURE]] = f"v1={digest}"
