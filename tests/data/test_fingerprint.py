"""The data fingerprint: size + both ends of each shard, the folder's curate_config.json whole."""

import hashlib

from rice.data.fingerprint import END_BYTES, data_fingerprint, file_fingerprint, fingerprint_differences


def test_file_fingerprint_is_size_and_both_ends(tmp_path):
    path = tmp_path / "shard-000000.tar"
    data = bytearray(b"a" * END_BYTES + b"m" * 1000 + b"z" * END_BYTES)
    path.write_bytes(data)
    expected = hashlib.sha256(bytes(data[:END_BYTES]) + bytes(data[-END_BYTES:])).hexdigest()[:32]
    assert file_fingerprint(path) == f"{len(data)}:{expected}"
    data[END_BYTES + 10] = ord("x")  # the middle is not read (the documented trade-off)
    path.write_bytes(data)
    assert file_fingerprint(path) == f"{len(data)}:{expected}"
    assert file_fingerprint(path, whole=True) != f"{len(data)}:{expected}"
    for index in (0, len(data) - 1):  # a change at either end is seen
        changed = bytearray(data)
        changed[index] = ord("q")
        path.write_bytes(changed)
        assert file_fingerprint(path) != f"{len(data)}:{expected}"


def test_data_fingerprint_names_what_changed(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(3):
        (shards / f"shard-00000{i}.tar").write_bytes(bytes([i]) * 100)
    before = data_fingerprint(shards)
    assert sorted(before["files"]) == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert before == data_fingerprint(str(shards / "shard-*.tar"))  # how the shards are named does not matter
    (shards / "shard-000000.tar").write_bytes(b"\x09" * 100)  # same size, other bytes
    (shards / "shard-000001.tar").write_bytes(b"\x01" * 101)
    (shards / "shard-000002.tar").unlink()
    (shards / "shard-000003.tar").write_bytes(b"\x03" * 100)
    (shards / "curate_config.json").write_text("{}")
    after = data_fingerprint(shards)
    assert after["digest"] != before["digest"]
    assert fingerprint_differences(before, after) == [
        "curate_config.json: new", "shard-000000.tar: content changed", "shard-000001.tar: size 100 -> 101",
        "shard-000002.tar: removed", "shard-000003.tar: new"]
    assert fingerprint_differences(before, after, limit=2)[-1] == "... and 3 more"
    assert fingerprint_differences(after, data_fingerprint(shards)) == []
