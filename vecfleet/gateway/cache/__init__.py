"""Result cache: the ``Cache`` protocol, its tiers, keys and value codec."""

from vecfleet.gateway.cache.base import Cache, LatencyCounts, TierStats
from vecfleet.gateway.cache.keys import PUBLIC_SCOPE, SearchIdentity, etag_of, scope_of, search_key
from vecfleet.gateway.cache.memory import MemoryCache
from vecfleet.gateway.cache.redis_tier import RedisCache, redis_client
from vecfleet.gateway.cache.tiered import CacheHit, Tier, TieredCache

__all__ = [
    "PUBLIC_SCOPE",
    "Cache",
    "CacheHit",
    "LatencyCounts",
    "MemoryCache",
    "RedisCache",
    "SearchIdentity",
    "Tier",
    "TierStats",
    "TieredCache",
    "etag_of",
    "redis_client",
    "scope_of",
    "search_key",
]
