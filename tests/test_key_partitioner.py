"""The receiver's cached partitioner must place keys exactly where aiokafka's default does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from bridge.kafka import KeyPartitioner


def test_cached_partitioner_matches_the_default_for_every_key_and_partition_count() -> None:
    cached, default = KeyPartitioner(), DefaultPartitioner()
    for count in (1, 3, 12, 50):
        partitions = list(range(count))
        for i in range(2000):
            key = f"cus_{i}".encode()
            expected = default(key, partitions, partitions)
            assert cached(key, partitions, partitions) == expected
            assert cached(key, partitions, partitions) == expected  # from the cache this time


def test_cache_is_bounded() -> None:
    cached = KeyPartitioner()
    cached.MAX_KEYS = 10
    for i in range(25):
        cached(f"k{i}".encode(), [0, 1, 2], [0, 1, 2])
    assert len(cached._slots) <= 10
