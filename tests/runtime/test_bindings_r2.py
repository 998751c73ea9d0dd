"""R2 binding: objects, metadata, ranges, conditions, listing and multipart, on Wrangler's layout."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pyflows.runtime.bindings.r2 import R2Bucket, R2Error
from pyflows.runtime.surface.http import Headers

pytestmark = pytest.mark.anyio


@pytest.fixture
def bucket(tmp_path: Path) -> R2Bucket:
    return R2Bucket(tmp_path / "v3", "my-bucket", "BUCKET")


async def test_put_get_head_delete(bucket: R2Bucket, tmp_path: Path) -> None:
    put = await bucket.put(
        "a/b.json",
        '{"x": 1}',
        {
            "httpMetadata": {"contentType": "application/json", "cacheControl": "max-age=60"},
            "customMetadata": {"who": "me"},
        },
    )
    md5 = hashlib.md5(b'{"x": 1}').hexdigest()
    assert put.key == "a/b.json" and put.size == 8 and put.etag == md5 and put.httpEtag == f'"{md5}"'
    assert isinstance(put.uploaded, datetime) and abs(put.uploaded - datetime.utcnow()) < timedelta(seconds=5)
    got = await bucket.get("a/b.json")
    assert got.bodyUsed is False and await got.text() == '{"x": 1}' and got.bodyUsed is True
    with pytest.raises(TypeError, match="Body has already been used"):  # a body is read once, as on Cloudflare
        await got.text()
    assert (await (await bucket.get("a/b.json")).json()).x == 1
    assert await (await bucket.get("a/b.json")).arrayBuffer() == b'{"x": 1}'
    assert await (await bucket.get("a/b.json")).bytes() == b'{"x": 1}'
    assert got.httpMetadata.contentType == "application/json" and got.customMetadata == {"who": "me"}
    headers = Headers()
    got.writeHttpMetadata(headers)
    assert headers.get("content-type") == "application/json" and headers.get("cache-control") == "max-age=60"
    head = await bucket.head("a/b.json")
    assert head.size == 8 and not hasattr(head, "text")
    assert len(list((tmp_path / "v3" / "r2" / "my-bucket" / "blobs").iterdir())) == 1
    await bucket.delete("a/b.json")
    assert await bucket.get("a/b.json") is None and await bucket.head("a/b.json") is None
    assert list((tmp_path / "v3" / "r2" / "my-bucket" / "blobs").iterdir()) == []


async def test_ranges_and_conditions(bucket: R2Bucket) -> None:
    obj = await bucket.put("k", b"0123456789")
    part = await bucket.get("k", {"range": {"offset": 2, "length": 3}})
    assert await part.arrayBuffer() == b"234" and part.range == {"offset": 2, "length": 3}
    assert await (await bucket.get("k", range={"suffix": 2})).text() == "89"
    assert await (await bucket.get("k", {"range": Headers({"range": "bytes=1-2"})})).text() == "12"
    with pytest.raises(R2Error, match="The requested range is not satisfiable"):
        await bucket.get("k", {"range": {"offset": 20}})
    matched = await bucket.get("k", {"onlyIf": {"etagMatches": obj.etag}})
    assert await matched.text() == "0123456789"
    unmatched = await bucket.get("k", {"onlyIf": {"etagDoesNotMatch": obj.etag}})
    assert unmatched is not None and not hasattr(unmatched, "text")  # an R2Object without a body
    assert await bucket.put("k", b"new", {"onlyIf": {"etagMatches": "nope"}}) is None
    assert await (await bucket.get("k")).text() == "0123456789"


async def test_checksums_are_checked(bucket: R2Bucket) -> None:
    good = hashlib.md5(b"abc").hexdigest()
    assert (await bucket.put("c", "abc", {"md5": good})).checksums.md5 == good
    with pytest.raises(R2Error, match="The MD5 checksum you specified did not match"):
        await bucket.put("c", "abc", {"md5": "0" * 32})


async def test_list_with_prefix_delimiter_cursor_include(bucket: R2Bucket) -> None:
    for key in ("a/1", "a/2", "b/1", "c", "d"):
        await bucket.put(key, key, {"customMetadata": {"k": key}})
    top = await bucket.list({"delimiter": "/"})
    assert [o.key for o in top.objects] == ["c", "d"] and top.delimitedPrefixes == ["a/", "b/"]
    assert top.truncated is False and "cursor" not in top
    assert top.objects[0].customMetadata == {}
    inside = await bucket.list(prefix="a/", include=["customMetadata"])
    assert [o.key for o in inside.objects] == ["a/1", "a/2"] and inside.objects[0].customMetadata == {"k": "a/1"}
    page = await bucket.list({"limit": 2})
    assert [o.key for o in page.objects] == ["a/1", "a/2"] and page.truncated is True
    rest = await bucket.list({"limit": 2, "cursor": page.cursor})
    assert [o.key for o in rest.objects] == ["b/1", "c"]
    last = await bucket.list({"limit": 2, "cursor": rest.cursor})
    assert [o.key for o in last.objects] == ["d"] and last.truncated is False
    await bucket.delete(["a/1", "a/2", "missing"])
    assert [o.key for o in (await bucket.list()).objects] == ["b/1", "c", "d"]


async def test_multipart_upload(bucket: R2Bucket) -> None:
    upload = await bucket.createMultipartUpload("big", {"httpMetadata": {"contentType": "text/plain"}})
    p2 = await upload.uploadPart(2, b"world")
    p1 = await upload.uploadPart(1, b"hello ")
    resumed = bucket.resumeMultipartUpload("big", upload.uploadId)
    obj = await resumed.complete([p2, p1])
    md5s = hashlib.md5(b"hello ").digest() + hashlib.md5(b"world").digest()
    assert obj.etag == hashlib.md5(md5s).hexdigest() + "-2" and obj.size == 11
    got = await bucket.get("big")
    assert await got.text() == "hello world" and got.httpMetadata.contentType == "text/plain"
    with pytest.raises(R2Error, match="The specified multipart upload does not exist"):
        await upload.uploadPart(3, b"late")
    aborted = await bucket.createMultipartUpload("gone")
    await aborted.uploadPart(1, b"x")
    await aborted.abort()
    with pytest.raises(R2Error, match="does not exist"):
        await aborted.complete([])
    assert await bucket.head("gone") is None
