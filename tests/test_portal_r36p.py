"""Round 36 (P2): the portal's download log says only what was downloaded — a body that carried the file's last
byte — never a refused range, a HEAD, a 304 or a range short of the end; HEAD and conditional GETs work."""

from __future__ import annotations

import hashlib

from pim.portal_downloads import TOKEN, downloads
from tests.test_portal import auth, portal  # noqa: F401  (the fixture: two customers, one delivered feed each)


def _logged(store) -> list[str]:
    return [d["person"] for d in downloads(store, customer="cust_a")]


def _url(files) -> str:
    return f"/portal/feeds/{files['a-feed']['id']}/download"


def test_a_refused_range_writes_no_download(portal, store) -> None:  # noqa: F811
    client, tokens, files, paths = portal
    size = paths["a"].stat().st_size
    r = client.get(_url(files), headers={**auth(tokens["a"]), "Range": f"bytes={size + 5000000}-"})
    assert r.status_code == 416
    assert _logged(store) == []


def test_a_range_short_of_the_end_writes_no_download(portal, store) -> None:  # noqa: F811
    client, tokens, files, paths = portal
    r = client.get(_url(files), headers={**auth(tokens["a"]), "Range": "bytes=0-0"})
    assert r.status_code == 206 and r.content == paths["a"].read_bytes()[:1]
    assert _logged(store) == []


def test_a_download_in_chunks_is_one_row_written_by_the_chunk_that_ends_it(portal, store) -> None:  # noqa: F811
    client, tokens, files, paths = portal
    data = paths["a"].read_bytes()
    assert len(data) > 4
    half = len(data) // 2
    first = client.get(_url(files), headers={**auth(tokens["a"]), "Range": f"bytes=0-{half - 1}"})
    assert first.status_code == 206 and _logged(store) == []
    rest = client.get(_url(files), headers={**auth(tokens["a"]), "Range": f"bytes={half}-"})
    assert rest.status_code == 206 and first.content + rest.content == data
    assert _logged(store) == [TOKEN]
    both = client.get(_url(files), headers={**auth(tokens["a"]), "Range": f"bytes=0-0,{len(data) - 1}-"})
    assert both.status_code == 206 and _logged(store) == [TOKEN, TOKEN]  # several ranges, the last reaching the end
    client.get(_url(files), headers={**auth(tokens["a"]), "Range": "bytes=0-0,2-3"})
    assert _logged(store) == [TOKEN, TOKEN]


def test_a_full_download_writes_one_row(portal, store) -> None:  # noqa: F811
    client, tokens, files, paths = portal
    r = client.get(_url(files), headers=auth(tokens["a"]))
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == files["a-feed"]["sha256"]
    assert _logged(store) == [TOKEN]


def test_head_answers_the_downloads_headers_without_a_body_or_a_row(portal, store) -> None:  # noqa: F811
    client, tokens, files, paths = portal
    r = client.head(_url(files), headers=auth(tokens["a"]))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["x-checksum-sha256"] == files["a-feed"]["sha256"]
    assert int(r.headers["content-length"]) == paths["a"].stat().st_size and r.headers["etag"]
    assert _logged(store) == []
    assert client.head(f"/portal/feeds/{files['b-feed']['id']}/download", headers=auth(tokens["a"])).status_code == 404
    assert client.head(_url(files)).status_code == 401


def test_if_none_match_with_the_served_etag_answers_304_without_a_row(portal, store) -> None:  # noqa: F811
    client, tokens, files, _ = portal
    first = client.get(_url(files), headers=auth(tokens["a"]))
    etag = first.headers["etag"]
    again = client.get(_url(files), headers={**auth(tokens["a"]), "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert "no-store" in again.headers["cache-control"]
    listed = client.get(_url(files), headers={**auth(tokens["a"]), "If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304
    assert _logged(store) == [TOKEN]  # the first download only
    stale = client.get(_url(files), headers={**auth(tokens["a"]), "If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200 and stale.content == first.content
    assert _logged(store) == [TOKEN, TOKEN]


def test_if_modified_since_answers_304_for_a_current_copy(portal, store) -> None:  # noqa: F811
    client, tokens, files, _ = portal
    modified = client.head(_url(files), headers=auth(tokens["a"])).headers["last-modified"]
    r = client.get(_url(files), headers={**auth(tokens["a"]), "If-Modified-Since": modified})
    assert r.status_code == 304 and _logged(store) == []
    old = client.get(_url(files), headers={**auth(tokens["a"]), "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert old.status_code == 200 and _logged(store) == [TOKEN]


def test_another_customers_file_answers_404_to_conditional_and_ranged_gets(portal, store) -> None:  # noqa: F811
    client, tokens, files, _ = portal
    other = f"/portal/feeds/{files['b-feed']['id']}/download"
    for extra in ({"If-None-Match": "*"}, {"Range": "bytes=0-0"}):
        assert client.get(other, headers={**auth(tokens["a"]), **extra}).status_code == 404
    assert downloads(store) == []
