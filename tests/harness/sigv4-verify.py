#!/usr/bin/python3
"""sigv4-verify.py: checks AWS SigV4 signatures of received requests the way
AWS does, with an implementation that is not taskbox's: Debian's
python3-botocore (botocore.auth.SigV4Auth) recomputes the signature over
what the fake upstream received.

A long-lived child of tests/harness/fake-llm.mjs. argv: ACCESS_KEY_ID
SECRET REGION SERVICE [SESSION_TOKEN]. One request per line on stdin, as
JSON: {"id", "method", "target" (path and query as received), "headers":
[[name, value], ...] (as received), "body_b64"}. One verdict per line on
stdout: {"id", "ok": true} or {"id", "ok": false, "type", "message"} with
the AWS error type (x-amzn-ErrorType) and message a real service answers.

Only the headers the client named in SignedHeaders are signed, with the
values received; host and x-amz-date must be among them; the date must be
within 15 minutes of now; X-Amz-Content-Sha256, when sent, must be the
body's hash; a session token, when expected, must be sent and signed.
"""
import datetime
import hashlib
import hmac
import json
import re
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

AUTH_RE = re.compile(
    r'^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)'
    r'/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$')
SKEW = datetime.timedelta(minutes=15)


class Auth(SigV4Auth):
    """SigV4Auth signing exactly the headers the client listed."""

    def __init__(self, creds, service, region, signed):
        super().__init__(creds, service, region)
        self.signed = signed

    def headers_to_sign(self, request):
        out = HTTPHeaders()
        for name in self.signed:
            for value in request.headers.get_all(name) or []:
                out.add_header(name, value)
        return out


def refuse(rid, etype, message):
    """The verdict for a refused request."""
    return {'id': rid, 'ok': False, 'type': etype, 'message': message}


def verify(r, akid, secret, region, service, token):
    """The verdict for one received request r."""
    rid = r.get('id')
    body = __import__('base64').b64decode(r.get('body_b64', ''))
    headers = HTTPHeaders()
    for name, value in r['headers']:
        headers.add_header(name.lower(), value)
    auth = headers.get('authorization')
    if not auth:
        return refuse(rid, 'MissingAuthenticationTokenException',
                      'Missing Authentication Token')
    m = AUTH_RE.match(auth)
    if not m:
        return refuse(rid, 'IncompleteSignatureException',
                      'Authorization header requires a well-formed '
                      'Credential, SignedHeaders and Signature.')
    cred_id, day, cred_region, cred_service, signed, sig = m.groups()
    signed = signed.split(';')
    if cred_id != akid:
        return refuse(rid, 'UnrecognizedClientException',
                      'The security token included in the request is '
                      'invalid.')
    if cred_region != region or cred_service != service:
        return refuse(rid, 'InvalidSignatureException',
                      "Credential should be scoped to a valid region "
                      "and service ('%s', '%s')." % (region, service))
    if signed != sorted(signed) or 'host' not in signed or \
            'x-amz-date' not in signed:
        return refuse(rid, 'InvalidSignatureException',
                      'SignedHeaders must be sorted and include host and '
                      'x-amz-date.')
    amz_date = headers.get('x-amz-date', '')
    try:
        when = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ')
    except ValueError:
        return refuse(rid, 'IncompleteSignatureException',
                      'X-Amz-Date is not a valid date: %r' % amz_date)
    if when.strftime('%Y%m%d') != day:
        return refuse(rid, 'InvalidSignatureException',
                      'Credential date does not match X-Amz-Date.')
    if abs(datetime.datetime.utcnow() - when) > SKEW:
        return refuse(rid, 'InvalidSignatureException',
                      'Signature expired: %s is not within 15 minutes of '
                      'now.' % amz_date)
    if token is not None:
        if headers.get('x-amz-security-token') != token or \
                'x-amz-security-token' not in signed:
            return refuse(rid, 'UnrecognizedClientException',
                          'The security token included in the request is '
                          'invalid.')
    sha = headers.get('x-amz-content-sha256')
    if sha is not None and sha != hashlib.sha256(body).hexdigest():
        return refuse(rid, 'InvalidSignatureException',
                      'The provided X-Amz-Content-Sha256 does not match '
                      'the body.')
    req = AWSRequest(method=r['method'],
                     url='https://' + headers.get('host', '') + r['target'],
                     data=body)
    req.headers = headers
    req.context['timestamp'] = amz_date
    a = Auth(Credentials(akid, secret, token), service, region, signed)
    canonical = a.canonical_request(req)
    expect = a.signature(a.string_to_sign(req, canonical), req)
    if not hmac.compare_digest(expect, sig):
        return refuse(rid, 'InvalidSignatureException',
                      'The request signature we calculated does not match '
                      'the signature you provided. Check your AWS Secret '
                      'Access Key and signing method.')
    return {'id': rid, 'ok': True}


def main():
    """Read requests from stdin until it closes, one verdict each."""
    akid, secret, region, service = sys.argv[1:5]
    token = sys.argv[5] if len(sys.argv) > 5 else None
    for line in sys.stdin:
        try:
            v = verify(json.loads(line), akid, secret, region, service, token)
        except Exception as e:  # a malformed line is one refused request
            v = refuse(None, 'IncompleteSignatureException', str(e))
            try:
                v['id'] = json.loads(line).get('id')
            except Exception:
                pass
        sys.stdout.write(json.dumps(v) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
