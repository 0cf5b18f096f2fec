"""Vault's Python client (hvac) against signetd's Vault-compatible MFA API.

Drives identity/mfa/method/... and identity/mfa/login-enforcement/... with
hvac's generic read, write, write_data, list and delete, as a tool written
for Vault would, and checks that hvac maps signetd's errors to its own
classes (400 InvalidRequest, 403 Forbidden, 404 InvalidPath).

Environment: VAULT_ADDR (signetd's base URL) and VAULT_TOKEN (an access
token with the admin API audience). Prints one line per step; exits 1 at
the first failure, saying what differed.
"""

import base64
import os
import sys
import warnings

import hvac
import hvac.exceptions

# A deprecated call is a failure: the script must keep working on hvac's next major.
warnings.simplefilter("error", DeprecationWarning)
warnings.simplefilter("error", PendingDeprecationWarning)

# Vault's CRUD test fixture: two comment lines and all seven keys.
FIXTURE = """#Auto-Generated from PingOne, downloaded by id=[SSO]
#Wed Jan 01 00:00:00 UTC 2025
use_base64_key=bXktc2VjcmV0LWtleQ==
use_signature=true
token=widgets-token-1
idp_url=https://idpxnyl3m.pingidentity.com/pingid
org_alias=181459b0-9fb1-4938-8c86-181459b0abcd
admin_url=https://idpxnyl3m.pingidentity.com/pingid
authenticator_url=https://authenticator.pingone.com/pingid/ppm
"""
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
METHODS = "identity/mfa/method"
ENFORCEMENT = "identity/mfa/login-enforcement/hvac-admins"


class Failed(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failed(what)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def raises(kind, call, needle=""):
    """Runs call(); it must raise hvac's `kind`, whose errors mention needle."""
    try:
        got = call()
    except kind as e:
        check(needle in " ".join(e.errors or []), f"{kind.__name__} without {needle!r}: {e.errors!r}")
        return
    except hvac.exceptions.VaultError as e:
        raise Failed(f"expected {kind.__name__}, got {type(e).__name__}: {e}") from e
    raise Failed(f"expected {kind.__name__}, got an answer: {got!r}")


def status_of(answer):
    """write_data and delete give a requests.Response for 204, a dict for 200."""
    return getattr(answer, "status_code", 200 if isinstance(answer, dict) else None)


def main():
    addr, token = os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"]
    client = hvac.Client(url=addr, token=token)
    step = lambda name: print(f"ok: {name}", flush=True)

    # 403: a token signetd did not issue.
    stranger = hvac.Client(url=addr, token="not.a.token")
    raises(hvac.exceptions.Forbidden, lambda: stranger.read(f"{METHODS}/pingid/{UNKNOWN_ID}"), "permission denied")
    step("a bad token is Forbidden")

    # 400: Vault's validation, in Vault's words.
    raises(
        hvac.exceptions.InvalidRequest,
        lambda: client.write_data(f"{METHODS}/pingid", data={"settings_file_base64": ""}),
        "settings_file_base64 is empty",
    )
    step("an empty settings file is InvalidRequest")

    # 404: read and list give None, as hvac does for Vault; delete raises.
    check(client.read(f"{METHODS}/pingid/{UNKNOWN_ID}") is None, "reading an unknown id is not None")
    check(client.list(f"{METHODS}/pingid") is None, "listing no methods is not None")
    raises(hvac.exceptions.InvalidPath, lambda: client.delete(f"{METHODS}/pingid/{UNKNOWN_ID}"))
    step("an unknown id is InvalidPath")

    # Vault's CRUD fixture round trip.
    created = client.write_data(
        f"{METHODS}/pingid",
        data={"method_name": "hvac-ping", "settings_file_base64": b64(FIXTURE)},
    )
    method_id = created["data"]["method_id"]
    check(not created.get("warnings"), f"warnings on create: {created.get('warnings')}")
    read = client.read(f"{METHODS}/pingid/{method_id}")
    want = {
        "type": "pingid",
        "id": method_id,
        "name": "hvac-ping",
        "use_signature": True,
        "idp_url": "https://idpxnyl3m.pingidentity.com/pingid",
        "org_alias": "181459b0-9fb1-4938-8c86-181459b0abcd",
        "admin_url": "https://idpxnyl3m.pingidentity.com/pingid",
        "authenticator_url": "https://authenticator.pingone.com/pingid/ppm",
    }
    for key, value in want.items():
        check(read["data"].get(key) == value, f"read {key}: {read['data'].get(key)!r}, want {value!r}")
    for secret in ("token", "use_base64_key"):
        check(secret not in read["data"], f"the read shows the secret {secret}")
    check("bXktc2VjcmV0" not in str(read), "the read shows use_base64_key's value")
    check(client.read(f"{METHODS}/{method_id}")["data"]["id"] == method_id, "reading by id alone")
    step("the fixture's method is created and read back, without its secrets")

    moved = FIXTURE.replace("idp_url=https://idpxnyl3m", "idp_url=https://idp2")
    updated = client.write_data(f"{METHODS}/pingid/{method_id}", data={"settings_file_base64": b64(moved)})
    check(status_of(updated) == 204, f"update answered {updated!r}")
    read = client.read(f"{METHODS}/pingid/{method_id}")["data"]
    check(read["idp_url"] == "https://idp2.pingidentity.com/pingid", f"updated idp_url: {read['idp_url']!r}")
    check(read["name"] == "hvac-ping", f"the update lost the name: {read['name']!r}")
    step("an update of idp_url shows on read")

    # client.write: keyword arguments as fields.
    totp = client.write(f"{METHODS}/totp", issuer="signet", method_name="hvac-totp", digits=8)
    totp_id = totp["data"]["method_id"]
    check(client.read(f"{METHODS}/totp/{totp_id}")["data"]["digits"] == 8, "the TOTP method's digits")
    raises(hvac.exceptions.InvalidRequest, lambda: client.write(f"{METHODS}/totp", issuer="x", digits=7), "6 or 8")
    raises(
        hvac.exceptions.InvalidRequest,
        lambda: client.read(f"{METHODS}/totp/{method_id}"),
        "under MFA type totp",
    )
    step("client.write creates a TOTP method; a wrong type is InvalidRequest")

    listed = client.list(f"{METHODS}/pingid")["data"]
    check(listed["keys"] == [method_id], f"pingid keys: {listed['keys']!r}")
    check(listed["key_info"][method_id]["type"] == "pingid", "key_info")
    every = client.list(METHODS)["data"]["keys"]
    check(sorted(every) == sorted([method_id, totp_id]), f"all keys: {every!r}")
    step("list by type and of every method")

    # A login enforcement that uses both methods.
    raises(
        hvac.exceptions.InvalidRequest,
        lambda: client.write_data(ENFORCEMENT, data={"mfa_method_ids": [UNKNOWN_ID], "auth_method_types": ["password"]}),
        "method ids doesn't exist",
    )
    put = client.write_data(
        ENFORCEMENT, data={"mfa_method_ids": [method_id, totp_id], "auth_method_types": ["password"]}
    )
    check(status_of(put) == 204, f"enforcement write answered {put!r}")
    enforcement = client.read(ENFORCEMENT)["data"]
    check(enforcement["mfa_method_ids"] == [method_id, totp_id], f"enforcement methods: {enforcement!r}")
    check(enforcement["name"] == "hvac-admins", f"enforcement name: {enforcement!r}")
    names = client.list("identity/mfa/login-enforcement")["data"]["keys"]
    check(names == ["hvac-admins"], f"enforcement keys: {names!r}")
    raises(
        hvac.exceptions.InvalidRequest,
        lambda: client.delete(f"{METHODS}/pingid/{method_id}"),
        "still used by an enforcement",
    )
    step("an enforcement is written, read and listed; its methods cannot be deleted")

    client.delete(ENFORCEMENT)
    check(client.read(ENFORCEMENT) is None, "the enforcement is still there")
    raises(hvac.exceptions.InvalidPath, lambda: client.delete(ENFORCEMENT))
    client.delete(f"{METHODS}/pingid/{method_id}")
    client.delete(f"{METHODS}/totp/{totp_id}")
    check(client.read(f"{METHODS}/pingid/{method_id}") is None, "the method is still there")
    raises(hvac.exceptions.InvalidPath, lambda: client.delete(f"{METHODS}/pingid/{method_id}"))
    check(client.list(METHODS) is None, "methods are left")
    step("everything is deleted; deleting again is InvalidPath")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # an unexpected error from hvac or signetd is a failure too
        print(f"FAIL: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        raise
    print("hvac: every check passed")
