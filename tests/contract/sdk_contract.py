#!/usr/bin/env python3
"""Contract test: drives the cfgeo Cloudflare API emulator with Cloudflare's official Python SDK
(PyPI `cloudflare` 5.x) under strict response validation, over every operation the emulator
implements, and checks the documented behaviour and errors.

Usage:
    sdk_contract.py [BASE_URL]          # or env CFGEO_EMULATOR_URL, e.g. http://127.0.0.1:8787/client/v4

Optional, for the authentication and rate-limit checks (an emulator started with
`--token TOKEN --rate-limit N`):
    CFGEO_EMULATOR_RESTRICTED_URL=http://127.0.0.1:PORT/client/v4
    CFGEO_EMULATOR_RESTRICTED_TOKEN=TOKEN
    CFGEO_EMULATOR_RESTRICTED_RATE_LIMIT=N      (optional; enables the 429 check)

Any response that does not match the SDK's models (pydantic validation under
`_strict_response_validation=True`) fails the run. Exits non-zero on the first failure.
Run it through tests/contract/run_sdk.sh, which installs the tools on first use (with
scripts/contract-tools.sh), starts the emulators and uses the venv's python.
"""

from __future__ import annotations

import math
import os
import secrets
import sys
import traceback
from typing import Any, Callable, Iterable, List, Optional

import cloudflare
from cloudflare import Cloudflare

ZONE_NAME = "example.com"
PER_PAGE = 50
PAGED_RECORDS = 120

passed: List[str] = []


def fail(step: str, exc: BaseException) -> None:
    print(f"FAIL [{step}]: {type(exc).__name__}: {exc}", file=sys.stderr)
    if isinstance(exc, cloudflare.APIResponseValidationError):
        print("  strict response validation rejected the emulator's response:", file=sys.stderr)
        try:
            print(f"  {exc.response.request.method} {exc.response.request.url}", file=sys.stderr)
            print(f"  body: {exc.response.text[:2000]}", file=sys.stderr)
        except Exception:  # noqa: BLE001 - best effort diagnostics
            pass
        if exc.__cause__ is not None:
            print(f"  cause: {exc.__cause__}", file=sys.stderr)
    elif isinstance(exc, cloudflare.APIStatusError):
        print(f"  HTTP {exc.status_code} {exc.response.request.method} {exc.response.request.url}", file=sys.stderr)
        print(f"  body: {exc.response.text[:2000]}", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)
    print(f"sdk_contract: {len(passed)} passed, 1 failed", file=sys.stderr)
    sys.exit(1)


def step(name: str, fn: Callable[[], Any]) -> Any:
    """Runs one named check; the first failure ends the run."""
    try:
        out = fn()
    except (AssertionError, cloudflare.CloudflareError, Exception) as exc:  # noqa: BLE001
        fail(name, exc)
    passed.append(name)
    print(f"ok  {name}")
    return out


def check_error(
    name: str,
    e: cloudflare.APIStatusError,
    status: int,
    codes: Optional[Iterable[int]] = None,
    exc_type: type = cloudflare.APIStatusError,
) -> cloudflare.APIStatusError:
    """Asserts that an API error has the given HTTP status, SDK exception class and one of the given
    Cloudflare error codes, in Cloudflare's error envelope."""
    assert e.status_code == status, f"{name}: expected HTTP {status}, got {e.status_code}: {e.response.text[:500]}"
    assert isinstance(e, exc_type), f"{name}: expected {exc_type.__name__}, got {type(e).__name__}"
    body = e.body
    assert isinstance(body, dict), f"{name}: error body is not a JSON object: {e.response.text[:500]}"
    assert body.get("success") is False, f"{name}: error envelope must have success=false, got {body!r}"
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, f"{name}: error envelope must carry a non-empty errors list: {body!r}"
    for err in errors:
        assert isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("message"), str), (
            f"{name}: each error must be {{code: int, message: str}}, got {err!r}"
        )
    assert isinstance(body.get("messages", []), list), f"{name}: messages must be a list: {body!r}"
    got = [err["code"] for err in errors]
    if codes is not None:
        want = list(codes)
        assert any(c in want for c in got), f"{name}: expected error code in {want}, got {got} ({errors!r})"
    return e


def expect_error(
    name: str,
    fn: Callable[[], Any],
    status: int,
    codes: Optional[Iterable[int]] = None,
    exc_type: type = cloudflare.APIStatusError,
) -> cloudflare.APIStatusError:
    """Asserts that fn raises an API error (see check_error)."""
    try:
        fn()
    except cloudflare.APIStatusError as e:
        return check_error(name, e, status, codes, exc_type)
    raise AssertionError(f"{name}: expected HTTP {status}, but the call succeeded")


def items(page: Any) -> list:
    return list(page)


def main() -> None:
    base_url = (sys.argv[1] if len(sys.argv) > 1 else None) or os.environ.get("CFGEO_EMULATOR_URL")
    if not base_url:
        print("usage: sdk_contract.py BASE_URL (or env CFGEO_EMULATOR_URL)", file=sys.stderr)
        sys.exit(2)
    base_url = base_url.rstrip("/")
    token = os.environ.get("CFGEO_EMULATOR_TOKEN", "cfgeo-contract-token")
    cf = Cloudflare(base_url=base_url, api_token=token, max_retries=0, _strict_response_validation=True)
    run = "c" + secrets.token_hex(4)  # unique per run: the emulator is stateful and may be shared
    print(f"sdk_contract: cloudflare SDK {cloudflare.__version__} against {base_url} (run {run})")

    def fqdn(label: str) -> str:
        return f"{label}-{run}.{ZONE_NAME}"

    # ---------------------------------------------------------------- user token
    def verify_token():
        v = cf.user.tokens.verify()
        assert v is not None, "user.tokens.verify: result is null"
        assert v.status == "active", f"user.tokens.verify: status expected 'active', got {v.status!r}"
        assert v.id, "user.tokens.verify: id is empty"

    step("user.tokens.verify", verify_token)

    # ---------------------------------------------------------------- zones
    def zones_list():
        zones = items(cf.zones.list())
        names = [z.name for z in zones]
        assert ZONE_NAME in names, f"zones.list: {ZONE_NAME} expected among {names}"
        z = next(z for z in zones if z.name == ZONE_NAME)
        assert z.account.id, "zones.list: zone.account.id is empty"
        by_name = items(cf.zones.list(name=ZONE_NAME))
        assert [x.id for x in by_name] == [z.id], f"zones.list(name=): expected only {z.id}, got {[x.id for x in by_name]}"
        return z

    zone = step("zones.list", zones_list)
    zone_id, account_id = zone.id, zone.account.id

    def zones_get():
        z = cf.zones.get(zone_id=zone_id)
        assert z is not None and z.id == zone_id and z.name == ZONE_NAME, f"zones.get: got {z!r}"
        assert z.account.id == account_id, f"zones.get: account.id {z.account.id!r} != {account_id!r}"

    step("zones.get", zones_get)

    def zones_get_missing():
        expect_error("zones.get(unknown)", lambda: cf.zones.get(zone_id="0" * 32), 404, exc_type=cloudflare.NotFoundError)

    step("zones.get unknown zone -> 404", zones_get_missing)

    def account_verify():
        v = cf.accounts.tokens.verify(account_id=account_id)
        assert v is not None and v.status == "active" and v.id, f"accounts.tokens.verify: got {v!r}"
        expect_error("accounts.tokens.verify for another account",
                     lambda: cf.accounts.tokens.verify(account_id="0" * 32), 403, exc_type=cloudflare.PermissionDeniedError)

    step("accounts.tokens.verify", account_verify)

    # ---------------------------------------------------------------- DNS records: create
    recs: dict = {}

    def create_a():
        r = cf.dns.records.create(
            zone_id=zone_id, type="A", name=fqdn("a"), content="192.0.2.10", ttl=1, proxied=True,
            comment="created by sdk_contract", tags=["owner:cfgeo", "env:contract"],
        )
        assert r is not None, "dns.records.create(A): result is null"
        assert r.type == "A" and r.name == fqdn("a") and r.content == "192.0.2.10", f"create(A): got {r!r}"
        assert r.proxied is True, f"create(A): proxied expected True, got {r.proxied!r}"
        assert r.ttl == 1, f"create(A): ttl expected 1 (automatic), got {r.ttl!r}"
        assert r.comment == "created by sdk_contract", f"create(A): comment got {r.comment!r}"
        assert sorted(r.tags or []) == ["env:contract", "owner:cfgeo"], f"create(A): tags got {r.tags!r}"
        assert r.proxiable is True, f"create(A): proxiable expected True for a public IPv4, got {r.proxiable!r}"
        assert r.id, "create(A): id is empty"
        recs["a"] = r

    step("dns.records.create A (proxied, comment, tags)", create_a)

    def create_aaaa():
        r = cf.dns.records.create(zone_id=zone_id, type="AAAA", name=fqdn("aaaa"), content="2001:db8::10", ttl=300)
        assert r is not None and r.type == "AAAA" and r.content == "2001:db8::10", f"create(AAAA): got {r!r}"
        assert r.ttl == 300, f"create(AAAA): ttl expected 300, got {r.ttl!r}"
        assert r.proxied is False, f"create(AAAA): proxied defaults to false, got {r.proxied!r}"
        recs["aaaa"] = r

    step("dns.records.create AAAA", create_aaaa)

    def create_cname():
        r = cf.dns.records.create(
            zone_id=zone_id, type="CNAME", name=fqdn("www"), content=fqdn("a"), ttl=1, proxied=True,
            comment="alias", tags=["owner:cfgeo"],
        )
        assert r is not None and r.type == "CNAME" and r.content == fqdn("a"), f"create(CNAME): got {r!r}"
        assert r.proxied is True, f"create(CNAME): proxied got {r.proxied!r}"
        recs["cname"] = r

    step("dns.records.create CNAME (proxied)", create_cname)

    txt_content = f'"cfgeo contract {run}"'

    def create_txt():
        r = cf.dns.records.create(zone_id=zone_id, type="TXT", name=fqdn("txt"), content=txt_content, ttl=120)
        assert r is not None and r.type == "TXT", f"create(TXT): got {r!r}"
        assert r.content == txt_content, f"create(TXT): content expected {txt_content!r}, got {r.content!r}"
        recs["txt"] = r

    step("dns.records.create TXT", create_txt)

    # ---------------------------------------------------------------- DNS records: errors
    def dup():
        expect_error(
            "create duplicate A",
            lambda: cf.dns.records.create(zone_id=zone_id, type="A", name=fqdn("a"), content="192.0.2.10", ttl=1, proxied=True),
            400, [81057, 81058], cloudflare.BadRequestError,
        )

    step("dns.records.create identical duplicate -> 400/81058", dup)

    def cname_conflict():
        expect_error(
            "create CNAME on a name with an A record",
            lambda: cf.dns.records.create(zone_id=zone_id, type="CNAME", name=fqdn("a"), content="elsewhere.example.net", ttl=1),
            400, [81053], cloudflare.BadRequestError,
        )
        expect_error(
            "create A on a name with a CNAME record",
            lambda: cf.dns.records.create(zone_id=zone_id, type="A", name=fqdn("www"), content="192.0.2.99", ttl=1),
            400, [81053, 81054], cloudflare.BadRequestError,
        )

    step("dns.records.create CNAME conflict -> 400/81053", cname_conflict)

    def outside_zone():
        e = expect_error(
            "create record outside the zone",
            lambda: cf.dns.records.create(zone_id=zone_id, type="A", name=f"x-{run}.example.org", content="192.0.2.1", ttl=1),
            400, None, cloudflare.BadRequestError,
        )
        print(f"    (outside zone -> codes {[x['code'] for x in e.body['errors']]})")

    step("dns.records.create outside zone -> 400", outside_zone)

    def bad_ttl():
        expect_error(
            "create record with ttl 5",
            lambda: cf.dns.records.create(zone_id=zone_id, type="A", name=fqdn("ttl"), content="192.0.2.1", ttl=5),
            400, None, cloudflare.BadRequestError,
        )

    step("dns.records.create invalid ttl -> 400", bad_ttl)

    # ---------------------------------------------------------------- DNS records: get / edit / update
    def get_rec():
        for key, want in recs.items():
            got = cf.dns.records.get(want.id, zone_id=zone_id)
            assert got is not None and got.id == want.id, f"get({key}): got {got!r}"
            assert (got.type, got.name, got.content, got.proxied, got.ttl) == (want.type, want.name, want.content, want.proxied, want.ttl), (
                f"get({key}): {got!r} differs from created {want!r}"
            )

    step("dns.records.get", get_rec)

    def get_missing():
        expect_error("get unknown record", lambda: cf.dns.records.get("f" * 32, zone_id=zone_id), 404, exc_type=cloudflare.NotFoundError)

    step("dns.records.get unknown -> 404", get_missing)

    def edit_rec():
        a = recs["a"]
        r = cf.dns.records.edit(a.id, zone_id=zone_id, type="A", name=fqdn("a"), ttl=1, content="192.0.2.11")
        assert r is not None and r.id == a.id, f"edit(A): got {r!r}"
        assert r.content == "192.0.2.11", f"edit(A): content expected 192.0.2.11, got {r.content!r}"
        assert r.proxied is True, f"edit(A): PATCH must keep proxied=True (not sent), got {r.proxied!r}"
        assert r.comment == "created by sdk_contract", f"edit(A): PATCH must keep the comment (not sent), got {r.comment!r}"
        assert sorted(r.tags or []) == ["env:contract", "owner:cfgeo"], f"edit(A): PATCH must keep tags (not sent), got {r.tags!r}"
        again = cf.dns.records.get(a.id, zone_id=zone_id)
        assert again.content == "192.0.2.11" and again.comment == "created by sdk_contract", f"get after edit: {again!r}"
        recs["a"] = r

    step("dns.records.edit (PATCH merges)", edit_rec)

    def update_rec():
        a = recs["a"]
        r = cf.dns.records.update(a.id, zone_id=zone_id, type="A", name=fqdn("a"), ttl=600, content="192.0.2.12")
        assert r is not None and r.id == a.id, f"update(A): got {r!r}"
        assert r.content == "192.0.2.12" and r.ttl == 600, f"update(A): content/ttl not applied: {r!r}"
        assert r.proxied is False, f"update(A): PUT without proxied must reset it to false, got {r.proxied!r}"
        assert not r.comment, f"update(A): PUT without comment must clear it, got {r.comment!r}"
        assert not r.tags, f"update(A): PUT without tags must clear them, got {r.tags!r}"
        recs["a"] = r

    step("dns.records.update (PUT overwrites)", update_rec)

    # ---------------------------------------------------------------- DNS records: list, paging
    def list_filters():
        got = items(cf.dns.records.list(zone_id=zone_id, type="AAAA", name={"exact": fqdn("aaaa")}))
        ids = [r.id for r in got]
        assert recs["aaaa"].id in ids, f"list(type=AAAA, name.exact): expected {recs['aaaa'].id} in {ids}"
        assert all(r.type == "AAAA" for r in got), f"list(type=AAAA): got types {[r.type for r in got]}"

    step("dns.records.list (type, name filters)", list_filters)

    paged_ids: set = set()

    def create_many():
        for i in range(PAGED_RECORDS):
            r = cf.dns.records.create(zone_id=zone_id, type="A", name=fqdn(f"page{i:03d}"), content=f"198.51.100.{i % 250 + 1}", ttl=1)
            assert r is not None and r.id, f"create page record {i}: got {r!r}"
            paged_ids.add(r.id)
        assert len(paged_ids) == PAGED_RECORDS, f"expected {PAGED_RECORDS} distinct ids, got {len(paged_ids)}"

    step(f"dns.records.create x{PAGED_RECORDS}", create_many)

    def paging():
        first = cf.dns.records.list(zone_id=zone_id, per_page=PER_PAGE)
        info = first.result_info
        assert info is not None, "list: result_info missing"
        total = info.total_count
        assert total is not None and total >= PAGED_RECORDS + len(recs), f"list: total_count {total} < created"
        assert info.page == 1 and info.per_page == PER_PAGE, f"list: result_info page/per_page {info!r}"
        assert info.count == len(first.result) == min(PER_PAGE, total), f"list: count {info.count} / {len(first.result)}"
        assert info.total_pages == math.ceil(total / PER_PAGE), f"list: total_pages {info.total_pages} for {total}/{PER_PAGE}"
        seen: list = []
        pages = 0
        nonempty = 0
        for page in first.iter_pages():
            pages += 1
            assert pages <= info.total_pages + 1, (
                f"auto-pager: still going after {pages - 1} pages of a {info.total_pages}-page list "
                "(the server must answer result: [] past the last page)"
            )
            if page.result:
                nonempty += 1
                assert len(page.result) <= PER_PAGE, f"page {pages}: {len(page.result)} items > per_page"
                assert page.result_info is not None and page.result_info.page == pages, (
                    f"page {pages}: result_info.page {page.result_info and page.result_info.page}"
                )
            seen.extend(r.id for r in page.result)
        assert nonempty == info.total_pages, f"auto-pager: {nonempty} non-empty pages, expected {info.total_pages}"
        assert len(seen) == total, f"auto-pager yielded {len(seen)} records, total_count says {total}"
        assert len(set(seen)) == len(seen), f"auto-pager yielded duplicates: {len(seen) - len(set(seen))}"
        assert paged_ids <= set(seen), f"auto-pager missed {len(paged_ids - set(seen))} created records"
        # The plain iterator over all pages (what users write).
        flat = [r.id for r in cf.dns.records.list(zone_id=zone_id, per_page=PER_PAGE)]
        assert len(flat) == total, f"for r in list(): {len(flat)} != total_count {total}"
        past = cf.dns.records.list(zone_id=zone_id, per_page=PER_PAGE, page=info.total_pages + 1)
        assert past.result == [], f"page past the end must be result: [], got {len(past.result)} items"

    step(f"dns.records.list auto-paging per_page={PER_PAGE}", paging)

    # ---------------------------------------------------------------- DNS records: export
    def export():
        text = cf.dns.records.export(zone_id=zone_id)
        assert isinstance(text, str) and text.strip(), "export: empty"
        assert f"{fqdn('aaaa')}." in text and "2001:db8::10" in text, "export: AAAA record missing from the BIND file"
        assert f"{fqdn('txt')}." in text, "export: TXT record missing from the BIND file"

    step("dns.records.export", export)

    # ---------------------------------------------------------------- DNS records: batch
    def batch():
        mk = lambda label, ip: cf.dns.records.create(  # noqa: E731
            zone_id=zone_id, type="A", name=fqdn(label), content=ip, ttl=1, tags=["batch:keep"], comment="before")
        d, p, u = mk("b-del", "192.0.2.31"), mk("b-patch", "192.0.2.32"), mk("b-put", "192.0.2.33")
        res = cf.dns.records.batch(
            zone_id=zone_id,
            deletes=[{"id": d.id}],
            patches=[{"id": p.id, "type": "A", "name": fqdn("b-patch"), "ttl": 1, "comment": "patched"}],
            puts=[{"id": u.id, "type": "A", "name": fqdn("b-put"), "ttl": 300, "content": "192.0.2.43"}],
            posts=[{"type": "A", "name": fqdn("b-post"), "ttl": 1, "content": "192.0.2.44", "proxied": True}],
        )
        assert res is not None, "batch: result is null"
        assert [r.id for r in res.deletes or []] == [d.id], f"batch.deletes: got {res.deletes!r}"
        assert [r.id for r in res.patches or []] == [p.id], f"batch.patches: got {res.patches!r}"
        pr = res.patches[0]
        assert pr.comment == "patched" and pr.content == "192.0.2.32", f"batch patch: {pr!r}"
        assert pr.tags == ["batch:keep"], f"batch patch must keep tags (not sent), got {pr.tags!r}"
        assert [r.id for r in res.puts or []] == [u.id], f"batch.puts: got {res.puts!r}"
        ur = res.puts[0]
        assert ur.content == "192.0.2.43" and ur.ttl == 300, f"batch put: {ur!r}"
        assert not ur.tags and not ur.comment, f"batch put must overwrite tags/comment, got {ur.tags!r}/{ur.comment!r}"
        assert len(res.posts or []) == 1 and res.posts[0].name == fqdn("b-post") and res.posts[0].proxied is True, (
            f"batch.posts: got {res.posts!r}")
        expect_error("get batch-deleted record", lambda: cf.dns.records.get(d.id, zone_id=zone_id), 404)
        got = cf.dns.records.get(res.posts[0].id, zone_id=zone_id)
        assert got.content == "192.0.2.44", f"batch-posted record: {got!r}"
        return res

    bres = step("dns.records.batch (deletes, patches, puts, posts)", batch)

    def batch_limit():
        posts = [{"type": "TXT", "name": fqdn(f"lim{i}"), "ttl": 1, "content": '"x"'} for i in range(201)]
        expect_error("batch of 201 operations on a Free zone", lambda: cf.dns.records.batch(zone_id=zone_id, posts=posts),
                     400, None, cloudflare.BadRequestError)
        left = [r.id for r in cf.dns.records.list(zone_id=zone_id, type="TXT", per_page=100) if r.name.startswith("lim")]
        assert not left, f"a rejected batch must create nothing, found {len(left)} records"

    step("dns.records.batch over the Free plan's 200 operations -> 400", batch_limit)

    def batch_atomic():
        victim = bres.posts[0]
        expect_error(
            "batch whose post duplicates an existing record",
            lambda: cf.dns.records.batch(
                zone_id=zone_id,
                deletes=[{"id": victim.id}],
                posts=[{"type": "A", "name": fqdn("b-put"), "ttl": 300, "content": "192.0.2.43"},
                       {"type": "A", "name": fqdn("b-put"), "ttl": 300, "content": "192.0.2.43"}],
            ),
            400, [81057, 81058], cloudflare.BadRequestError,
        )
        still = cf.dns.records.get(victim.id, zone_id=zone_id)
        assert still is not None and still.id == victim.id, "failed batch must roll back its deletes"

    step("dns.records.batch is all-or-nothing", batch_atomic)

    # ---------------------------------------------------------------- DNS records: delete
    def delete_all():
        r = cf.dns.records.delete(recs["txt"].id, zone_id=zone_id)
        assert r is not None and r.id == recs["txt"].id, f"delete: result {r!r}"
        expect_error("get deleted record", lambda: cf.dns.records.get(recs["txt"].id, zone_id=zone_id), 404, exc_type=cloudflare.NotFoundError)
        expect_error("delete deleted record", lambda: cf.dns.records.delete(recs["txt"].id, zone_id=zone_id), 404, exc_type=cloudflare.NotFoundError)
        mine = [r.id for r in cf.dns.records.list(zone_id=zone_id, per_page=100) if r.name.endswith(f"-{run}.{ZONE_NAME}")]
        for rid in mine:
            cf.dns.records.delete(rid, zone_id=zone_id)
        left = [r.id for r in cf.dns.records.list(zone_id=zone_id, per_page=100) if r.name.endswith(f"-{run}.{ZONE_NAME}")]
        assert not left, f"records left after delete: {left}"

    # (run after load balancers, so the zone stays populated for a while)

    # ---------------------------------------------------------------- monitors
    mon: dict = {}

    def monitor_create():
        m = cf.load_balancers.monitors.create(
            account_id=account_id, type="https", path="/healthz", expected_codes="2xx", method="GET",
            description=f"mon-{run}", header={"Host": [fqdn("a")]}, allow_insecure=True, follow_redirects=True,
        )
        assert m.id, f"monitors.create: {m!r}"
        assert m.type == "https" and m.path == "/healthz" and m.expected_codes == "2xx", f"monitors.create: {m!r}"
        assert m.interval == 60 and m.timeout == 5 and m.retries == 2, (
            f"monitors.create defaults: interval/timeout/retries expected 60/5/2, got {m.interval}/{m.timeout}/{m.retries}")
        assert m.header == {"Host": [fqdn("a")]}, f"monitors.create: header {m.header!r}"
        assert m.allow_insecure is True and m.follow_redirects is True and m.method == "GET", (
            f"monitors.create: allow_insecure/follow_redirects/method {m.allow_insecure!r}/{m.follow_redirects!r}/{m.method!r}")
        mon["m"] = m
        # Cloudflare's header is a map of name to a list of strings; a bare string is a 400.
        expect_error("monitor header value not a list", lambda: cf.load_balancers.monitors.create(
            account_id=account_id, type="https", expected_codes="2xx", header={"Host": fqdn("a")}), 400, [1002])
        expect_error("monitor allow_insecure not a bool", lambda: cf.load_balancers.monitors.create(
            account_id=account_id, type="https", expected_codes="2xx", allow_insecure="yes"), 400, [1002])

    step("load_balancers.monitors.create", monitor_create)

    def monitor_list_get():
        ids = [m.id for m in cf.load_balancers.monitors.list(account_id=account_id)]
        assert mon["m"].id in ids, f"monitors.list: {mon['m'].id} not in {ids}"
        m = cf.load_balancers.monitors.get(mon["m"].id, account_id=account_id)
        assert m.id == mon["m"].id and m.description == f"mon-{run}", f"monitors.get: {m!r}"
        assert m.header == {"Host": [fqdn("a")]} and m.allow_insecure is True, (
            f"monitors.get: header/allow_insecure {m.header!r}/{m.allow_insecure!r}")

    step("load_balancers.monitors.list/get", monitor_list_get)

    def monitor_edit_update():
        m = cf.load_balancers.monitors.edit(mon["m"].id, account_id=account_id, description=f"mon-{run}-patched", retries=3)
        assert m.description == f"mon-{run}-patched" and m.retries == 3, f"monitors.edit: {m!r}"
        assert m.path == "/healthz" and m.expected_codes == "2xx", f"monitors.edit must keep path/expected_codes: {m!r}"
        assert m.header == {"Host": [fqdn("a")]} and m.allow_insecure is True, f"monitors.edit must keep header/allow_insecure: {m!r}"
        m = cf.load_balancers.monitors.edit(mon["m"].id, account_id=account_id, header={"Host": [fqdn("b")]},
                                            allow_insecure=False)
        assert m.header == {"Host": [fqdn("b")]} and m.allow_insecure is False, f"monitors.edit header/allow_insecure: {m!r}"
        assert m.follow_redirects is True and m.retries == 3, f"monitors.edit must keep follow_redirects/retries: {m!r}"
        m = cf.load_balancers.monitors.get(mon["m"].id, account_id=account_id)
        assert m.header == {"Host": [fqdn("b")]} and m.allow_insecure is False, f"monitors.get after edit: {m!r}"
        m = cf.load_balancers.monitors.update(mon["m"].id, account_id=account_id, type="http", description=f"mon-{run}-put",
                                              expected_codes="200")
        assert m.type == "http" and m.description == f"mon-{run}-put" and m.expected_codes == "200", f"monitors.update: {m!r}"
        assert m.retries == 2, f"monitors.update (PUT) must reset retries to the default 2, got {m.retries!r}"
        assert m.path in (None, "/"), f"monitors.update (PUT) must reset path to the default '/', got {m.path!r}"
        assert not m.header and m.allow_insecure in (None, False) and m.follow_redirects in (None, False), (
            f"monitors.update (PUT) must reset header/allow_insecure/follow_redirects: {m!r}")
        m = cf.load_balancers.monitors.update(mon["m"].id, account_id=account_id, type="https", description=f"mon-{run}-put",
                                              expected_codes="200", header={"Host": [fqdn("a")]}, allow_insecure=True)
        assert m.header == {"Host": [fqdn("a")]} and m.allow_insecure is True, f"monitors.update header/allow_insecure: {m!r}"
        m = cf.load_balancers.monitors.get(mon["m"].id, account_id=account_id)
        assert m.header == {"Host": [fqdn("a")]} and m.allow_insecure is True and m.type == "https", f"monitors.get after update: {m!r}"
        mon["m"] = m
        expect_error("get unknown monitor", lambda: cf.load_balancers.monitors.get("f" * 32, account_id=account_id), 404,
                     exc_type=cloudflare.NotFoundError)

    step("load_balancers.monitors.edit/update", monitor_edit_update)

    # ---------------------------------------------------------------- pools
    pools: dict = {}

    def pool_create():
        p1 = cf.load_balancers.pools.create(
            account_id=account_id, name=f"eu-{run}", description="keep-me", monitor=mon["m"].id,
            latitude=50.11, longitude=8.68, minimum_origins=1, notification_email="",
            origins=[
                {"name": "zeta", "address": "192.0.2.51", "enabled": True, "weight": 0.5},
                {"name": "alpha", "address": "192.0.2.52", "enabled": True, "weight": 1,
                 "header": {"Host": [fqdn("a")]}},
            ],
        )
        assert p1.id and p1.name == f"eu-{run}", f"pools.create: {p1!r}"
        assert p1.latitude == 50.11 and p1.longitude == 8.68, f"pools.create: lat/lon {p1.latitude}/{p1.longitude}"
        assert p1.monitor == mon["m"].id, f"pools.create: monitor {p1.monitor!r}"
        names = [o.name for o in p1.origins or []]
        assert names == sorted(names) == ["alpha", "zeta"], f"pools.create: origins expected sorted by name, got {names}"
        assert p1.minimum_origins == 1 and p1.enabled is True, f"pools.create: {p1!r}"
        p2 = cf.load_balancers.pools.create(
            account_id=account_id, name=f"us-{run}", latitude=37.77, longitude=-122.42,
            origins=[{"name": "o1", "address": "192.0.2.61"}],
        )
        assert p2.minimum_origins == 1, f"pools.create: minimum_origins defaults to 1, got {p2.minimum_origins!r}"
        assert p2.origins and p2.origins[0].weight == 1 and p2.origins[0].enabled is True, (
            f"pools.create: origin defaults weight 1 / enabled true, got {p2.origins!r}")
        pools["eu"], pools["us"] = p1, p2

    step("load_balancers.pools.create (lat/lon, monitor)", pool_create)

    def pool_list_get():
        ids = [p.id for p in cf.load_balancers.pools.list(account_id=account_id)]
        assert pools["eu"].id in ids and pools["us"].id in ids, f"pools.list: {ids}"
        by_mon = [p.id for p in cf.load_balancers.pools.list(account_id=account_id, monitor=mon["m"].id)]
        assert pools["eu"].id in by_mon and pools["us"].id not in by_mon, f"pools.list(monitor=): {by_mon}"
        p = cf.load_balancers.pools.get(pools["eu"].id, account_id=account_id)
        assert p.id == pools["eu"].id and p.description == "keep-me", f"pools.get: {p!r}"
        expect_error("get unknown pool", lambda: cf.load_balancers.pools.get("f" * 32, account_id=account_id), 404,
                     exc_type=cloudflare.NotFoundError)

    step("load_balancers.pools.list/get", pool_list_get)

    def pool_edit():
        p = cf.load_balancers.pools.edit(pools["us"].id, account_id=account_id, description="us-desc", enabled=True)
        assert p.description == "us-desc", f"pools.edit: {p!r}"
        p = cf.load_balancers.pools.edit(pools["us"].id, account_id=account_id, minimum_origins=1,
                                         origins=[{"name": "o2", "address": "192.0.2.62"}, {"name": "o1", "address": "192.0.2.61"}])
        assert p.description == "us-desc", f"pools.edit (PATCH) must keep description, got {p.description!r}"
        assert p.latitude == 37.77 and p.longitude == -122.42, f"pools.edit (PATCH) must keep lat/lon, got {p.latitude}/{p.longitude}"
        assert [o.name for o in p.origins or []] == ["o1", "o2"], f"pools.edit: origins sorted by name, got {p.origins!r}"
        pools["us"] = p

    step("load_balancers.pools.edit (PATCH merges)", pool_edit)

    def pool_update():
        p = cf.load_balancers.pools.update(pools["us"].id, account_id=account_id, name=f"us-{run}",
                                           latitude=37.77, longitude=-122.42,
                                           origins=[{"name": "o1", "address": "192.0.2.61"}])
        assert not p.description, f"pools.update (PUT) without description must reset it, got {p.description!r}"
        assert [o.name for o in p.origins or []] == ["o1"], f"pools.update: origins {p.origins!r}"
        pools["us"] = p
        expect_error(
            "pool with latitude but no longitude",
            lambda: cf.load_balancers.pools.create(account_id=account_id, name=f"bad-{run}", latitude=1.0,
                                                   origins=[{"name": "o", "address": "192.0.2.1"}]),
            400, None, cloudflare.BadRequestError,
        )

    step("load_balancers.pools.update (PUT overwrites)", pool_update)

    def pool_health():
        h = cf.load_balancers.pools.health.get(pools["eu"].id, account_id=account_id)
        assert h is not None, "pools.health.get: null result"
        if h.pool_id is not None:
            assert h.pool_id == pools["eu"].id, f"pools.health.get: pool_id {h.pool_id!r}"

    step("load_balancers.pools.health.get", pool_health)

    # ---------------------------------------------------------------- load balancers
    lbs: dict = {}

    def lb_create():
        lb = cf.load_balancers.create(
            zone_id=zone_id, name=fqdn("lb"), default_pools=[pools["eu"].id, pools["us"].id],
            fallback_pool=pools["us"].id, steering_policy="proximity", proxied=True, description=f"lb-{run}",
            session_affinity="none",
        )
        assert lb.id, f"load_balancers.create: {lb!r}"
        assert lb.name == fqdn("lb") and lb.steering_policy == "proximity" and lb.proxied is True, f"load_balancers.create: {lb!r}"
        assert lb.default_pools == [pools["eu"].id, pools["us"].id] and lb.fallback_pool == pools["us"].id, (
            f"load_balancers.create: pools {lb.default_pools!r} / {lb.fallback_pool!r}")
        lbs["lb"] = lb

    step("load_balancers.create (proximity, proxied)", lb_create)

    def lb_list_get():
        ids = [x.id for x in cf.load_balancers.list(zone_id=zone_id)]
        assert lbs["lb"].id in ids, f"load_balancers.list: {ids}"
        lb = cf.load_balancers.get(lbs["lb"].id, zone_id=zone_id)
        assert lb.id == lbs["lb"].id and lb.description == f"lb-{run}", f"load_balancers.get: {lb!r}"
        expect_error("get unknown LB", lambda: cf.load_balancers.get("f" * 32, zone_id=zone_id), 404,
                     exc_type=cloudflare.NotFoundError)

    step("load_balancers.list/get", lb_list_get)

    def lb_edit_update():
        lb = cf.load_balancers.edit(lbs["lb"].id, zone_id=zone_id, default_pools=[pools["us"].id, pools["eu"].id])
        assert lb.default_pools == [pools["us"].id, pools["eu"].id], f"load_balancers.edit: {lb.default_pools!r}"
        assert lb.description == f"lb-{run}" and lb.steering_policy == "proximity" and lb.proxied is True, (
            f"load_balancers.edit (PATCH) must keep description/steering/proxied: {lb!r}")
        lb = cf.load_balancers.update(lbs["lb"].id, zone_id=zone_id, name=fqdn("lb"), default_pools=[pools["eu"].id],
                                      fallback_pool=pools["eu"].id, steering_policy="proximity", proxied=True)
        assert lb.default_pools == [pools["eu"].id] and lb.fallback_pool == pools["eu"].id, f"load_balancers.update: {lb!r}"
        assert not lb.description, f"load_balancers.update (PUT) without description must reset it, got {lb.description!r}"
        lbs["lb"] = lb

    step("load_balancers.edit/update", lb_edit_update)

    def pool_refs():
        refs = items(cf.load_balancers.pools.references.get(pools["eu"].id, account_id=account_id))
        lb_refs = [r for r in refs if r.resource_type == "load_balancer"]
        assert [r.resource_id for r in lb_refs] == [lbs["lb"].id], f"pools.references.get: LB referrer missing: {refs!r}"
        assert lb_refs[0].reference_type == "referrer", f"pools.references.get: reference_type {lb_refs[0].reference_type!r}"
        mon_refs = [r for r in refs if r.resource_type == "monitor"]
        assert [r.resource_id for r in mon_refs] == [mon["m"].id], f"pools.references.get: monitor referral missing: {refs!r}"
        assert mon_refs[0].reference_type == "referral", f"pools.references.get: reference_type {mon_refs[0].reference_type!r}"

    step("load_balancers.pools.references.get", pool_refs)

    def monitor_refs():
        refs = items(cf.load_balancers.monitors.references.get(mon["m"].id, account_id=account_id))
        pool_refs_ = sorted((r.resource_id, r.reference_type, r.resource_type) for r in refs)
        assert pool_refs_ == [(pools["eu"].id, "referrer", "pool")], (
            f"monitors.references.get: expected the eu pool as its only referrer, got {refs!r}")

    step("load_balancers.monitors.references.get", monitor_refs)

    def delete_referenced_pool():
        expect_error("delete a pool a load balancer uses",
                     lambda: cf.load_balancers.pools.delete(pools["eu"].id, account_id=account_id), 412, [1005])
        assert cf.load_balancers.pools.get(pools["eu"].id, account_id=account_id).id == pools["eu"].id

    step("load_balancers.pools.delete referenced -> 412/1005", delete_referenced_pool)

    def delete_referenced_monitor():
        expect_error("delete a monitor a pool uses",
                     lambda: cf.load_balancers.monitors.delete(mon["m"].id, account_id=account_id), 412, [1005])

    step("load_balancers.monitors.delete referenced -> 412/1005", delete_referenced_monitor)

    def lb_with_unknown_pool():
        expect_error(
            "LB with an unknown pool",
            lambda: cf.load_balancers.create(zone_id=zone_id, name=fqdn("lb2"), default_pools=["f" * 32], fallback_pool="f" * 32),
            400, None, cloudflare.BadRequestError,
        )

    step("load_balancers.create with unknown pool -> 400", lb_with_unknown_pool)

    def teardown_lb():
        r = cf.load_balancers.delete(lbs["lb"].id, zone_id=zone_id)
        assert r.id == lbs["lb"].id, f"load_balancers.delete: {r!r}"
        expect_error("get deleted LB", lambda: cf.load_balancers.get(lbs["lb"].id, zone_id=zone_id), 404)
        for key in ("eu", "us"):
            r = cf.load_balancers.pools.delete(pools[key].id, account_id=account_id)
            assert r.id == pools[key].id, f"pools.delete: {r!r}"
            expect_error("get deleted pool", lambda: cf.load_balancers.pools.get(pools[key].id, account_id=account_id), 404)
        r = cf.load_balancers.monitors.delete(mon["m"].id, account_id=account_id)
        assert r.id == mon["m"].id, f"monitors.delete: {r!r}"
        expect_error("get deleted monitor", lambda: cf.load_balancers.monitors.get(mon["m"].id, account_id=account_id), 404)

    step("load_balancers/pools/monitors.delete", teardown_lb)
    step("dns.records.delete", delete_all)

    # ---------------------------------------------------------------- authentication
    r_url = os.environ.get("CFGEO_EMULATOR_RESTRICTED_URL")
    r_tok = os.environ.get("CFGEO_EMULATOR_RESTRICTED_TOKEN")
    if r_url and r_tok:
        def auth():
            good = Cloudflare(base_url=r_url.rstrip("/"), api_token=r_tok, max_retries=0, _strict_response_validation=True)
            assert good.user.tokens.verify().status == "active", "verify with the right token"
            assert any(z.name == ZONE_NAME for z in good.zones.list()), "zones.list with the right token"
            bad = Cloudflare(base_url=r_url.rstrip("/"), api_token=r_tok + "-wrong", max_retries=0, _strict_response_validation=True)
            for what, call in (("zones.list", lambda: items(bad.zones.list())),
                               ("user.tokens.verify", lambda: bad.user.tokens.verify())):
                try:
                    call()
                except (cloudflare.AuthenticationError, cloudflare.PermissionDeniedError) as e:
                    check_error(f"{what} with a wrong token", e, e.status_code)
                else:
                    raise AssertionError(f"{what} with a wrong token: expected 401/403, call succeeded")

        step("authentication: wrong token -> 401/403", auth)

        limit = int(os.environ.get("CFGEO_EMULATOR_RESTRICTED_RATE_LIMIT", "0"))
        if limit:
            def rate_limit():
                good = Cloudflare(base_url=r_url.rstrip("/"), api_token=r_tok, max_retries=0, _strict_response_validation=True)
                for i in range(limit + 5):
                    try:
                        good.user.tokens.verify()
                    except cloudflare.RateLimitError as e:
                        check_error("request over the rate limit", e, 429, [971], cloudflare.RateLimitError)
                        ra = e.response.headers.get("retry-after")
                        assert ra is not None and ra.isdigit() and int(ra) > 0, f"429 must carry Retry-After seconds, got {ra!r}"
                        return
                raise AssertionError(f"no 429 after {limit + 5} requests with --rate-limit {limit}")

            step(f"rate limit ({limit} per window) -> 429/971 with Retry-After", rate_limit)
    else:
        print("skip authentication check (set CFGEO_EMULATOR_RESTRICTED_URL and CFGEO_EMULATOR_RESTRICTED_TOKEN)")

    print(f"sdk_contract: {len(passed)} checks over zones, dns.records (create/list/paging/get/edit/update/delete/batch/export), "
          "load_balancers (+pools, health, references, monitors, monitor references), user/accounts tokens.verify, "
          "errors, auth, rate limit")
    print(f"sdk_contract: {len(passed)} passed, 0 failed")


if __name__ == "__main__":
    main()
